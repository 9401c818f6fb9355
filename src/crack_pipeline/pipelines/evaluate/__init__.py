"""The `evaluate` pipeline."""

from crack_pipeline.pipelines.evaluate.pipeline import create_pipeline

__all__ = ["create_pipeline"]
