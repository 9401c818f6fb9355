"""The `evaluate_folder` pipeline."""

from crack_pipeline.pipelines.evaluate_folder.pipeline import create_pipeline

__all__ = ["create_pipeline"]
