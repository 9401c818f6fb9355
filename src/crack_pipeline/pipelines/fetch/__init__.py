"""The `fetch` pipeline: a public data set, downloaded and unpacked into data/01_raw/<name>."""

from crack_pipeline.pipelines.fetch.pipeline import create_pipeline

__all__ = ["create_pipeline"]
