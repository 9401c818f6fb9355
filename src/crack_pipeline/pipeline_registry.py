"""Project pipelines: those `find_pipelines` discovers, plus `__default__`."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline, pipeline

from crack_pipeline.pipelines import from_folder, synth


def register_pipelines() -> dict[str, Pipeline]:
    """`__default__` runs every stage on the built-in synthetic data; `from_folder` on `data.source_dir`."""
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = synth.create_pipeline() + pipeline(
        from_folder.create_pipeline(),
        inputs={"raw_images": "synthetic_images", "explain_masks": "synthetic_masks"},
    )
    return pipelines
