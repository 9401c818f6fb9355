"""The `from_folder` pipeline: every stage, on a folder of labelled photos (`data.source_dir`)."""

from crack_pipeline.pipelines.from_folder.pipeline import create_pipeline

__all__ = ["create_pipeline"]
