"""The `synth` pipeline."""

from crack_pipeline.pipelines.synth.pipeline import create_pipeline

__all__ = ["create_pipeline"]
