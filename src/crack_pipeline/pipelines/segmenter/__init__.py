"""The `segmenter` pipeline."""

from crack_pipeline.pipelines.segmenter.pipeline import create_pipeline

__all__ = ["create_pipeline"]
