"""The `split` pipeline."""

from crack_pipeline.pipelines.split.pipeline import create_pipeline

__all__ = ["create_pipeline"]
