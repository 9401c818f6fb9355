"""The `retrain` pipeline."""

from crack_pipeline.pipelines.retrain.pipeline import create_pipeline

__all__ = ["create_pipeline"]
