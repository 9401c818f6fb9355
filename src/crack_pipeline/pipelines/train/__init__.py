"""The `train` pipeline."""

from crack_pipeline.pipelines.train.pipeline import create_pipeline

__all__ = ["create_pipeline"]
