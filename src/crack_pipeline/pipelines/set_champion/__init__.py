"""The `set_champion` pipeline."""

from crack_pipeline.pipelines.set_champion.pipeline import create_pipeline

__all__ = ["create_pipeline"]
