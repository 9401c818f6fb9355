"""The `explain` pipeline."""

from crack_pipeline.pipelines.explain.pipeline import create_pipeline

__all__ = ["create_pipeline"]
