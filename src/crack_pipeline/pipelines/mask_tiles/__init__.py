"""The `mask_tiles` pipeline."""

from crack_pipeline.pipelines.mask_tiles.pipeline import create_pipeline

__all__ = ["create_pipeline"]
