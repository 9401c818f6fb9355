"""Project pipelines: those `find_pipelines` discovers, plus `__default__`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline, pipeline

from crack_pipeline import pipelines as pipeline_package
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
    # Imported once the names asked for are known to be pipelines: these two import every stage (torch,
    # torchvision, MLflow's models: 15 s of a 2-core CPU), which a mistyped name need not wait for.
    from crack_pipeline.pipelines import from_folder, synth

    pipelines["__default__"] = synth.create_pipeline() + pipeline(
        from_folder.create_pipeline(),
        inputs={"raw_images": "synthetic_images", "explain_masks": "synthetic_masks"},
    )
    return pipelines


# A saved model a pipeline reads under another name than the one that makes it: pipelines run alone read the
# one saved before (`--pipelines=explain`), the composite ones are wired to the one they make.
_SAVED_VIEWS = {"latest_crack_segmenter": "crack_segmenter"}


def check_combined_pipelines(pipeline: Pipeline) -> None:
    """An `InputError` for a run whose nodes read a saved model (`_SAVED_VIEWS`) that another of its nodes
    makes: with `--pipelines=segmenter,explain` nothing made explain wait for the segmenter, so it read the
    one saved before, or none."""
    made, read = pipeline.all_outputs(), pipeline.inputs()
    for view, entry in _SAVED_VIEWS.items():
        if view in read and entry in made:
            readers = sorted(node.name for node in pipeline.nodes if view in node.inputs)
            raise InputError(
                f"--pipelines: this run makes {entry} and reads the one saved before it ({view}: "
                f"{', '.join(readers)}), which does not wait for the new one; run the pipeline that makes "
                f"it first, then the others (e.g. --pipelines=segmenter, then --pipelines=explain)"
            )


def require_own_folder(
    pipeline_names: Sequence[str] | None, catalog: Any, parameters: dict[str, Any]
) -> None:
    """An `InputError` for `--pipelines=from_folder` that would read the synthetic photos (no
    `data.source_dir` given, no `data.sources`, and the environment's default folder theirs): it trained on
    them for minutes, and their model could become the champion in place of one of the user's photos. An
    environment with a folder of its own (conf/ozgenel) runs as before."""
    if "from_folder" not in (pipeline_names or ()) or (parameters.get("data") or {}).get("sources"):
        return
    read = catalog.get("raw_images").folder_read()
    if read is not None and Path(read) == Path(catalog.get("synthetic_images").folder_read()):
        raise InputError(
            "--pipelines=from_folder trains on your own photos: give their folder with "
            "--params=data.source_dir=DIR (or several in data.sources); the run on the built-in synthetic "
            "photos is `kedro run` alone"
        )
