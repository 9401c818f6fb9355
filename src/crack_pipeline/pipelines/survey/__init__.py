"""The `survey` pipeline: a folder of thousands of photos explained photo by photo, resumable and sharded."""

from crack_pipeline.pipelines.survey.pipeline import create_pipeline

__all__ = ["create_pipeline"]
