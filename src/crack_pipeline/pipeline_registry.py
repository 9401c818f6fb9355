"""Project pipelines: those `find_pipelines` discovers, plus `__default__`."""

from __future__ import annotations

import re
from pathlib import Path

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline, pipeline

from crack_pipeline import pipelines as pipeline_package
from crack_pipeline.pipelines import from_folder, synth
from crack_pipeline.vision.errors import InputError


def register_pipelines() -> dict[str, Pipeline]:
    """`__default__` runs every stage on the built-in synthetic data; `from_folder` on `data.source_dir`."""
    try:
        pipelines = find_pipelines(raise_errors=True)
    except ImportError as error:
        # Kedro's word for a name asked for (`--pipelines=nosuch`) that is no pipeline: no cause behind it.
        unknown = re.search(r"'crack_pipeline\.pipelines\.(.+)' module", str(error))
        if error.__cause__ is not None or unknown is None:
            raise
        known = sorted(p.parent.name for p in Path(pipeline_package.__file__).parent.glob("*/pipeline.py"))
        raise InputError(
            f"--pipelines: no pipeline {unknown[1]!r}; the project's: {', '.join(known)} (and the default, "
            "run without --pipelines)"
        ) from None
    pipelines["__default__"] = synth.create_pipeline() + pipeline(
        from_folder.create_pipeline(),
        inputs={"raw_images": "synthetic_images", "explain_masks": "synthetic_masks"},
    )
    return pipelines
