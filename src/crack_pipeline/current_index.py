"""A run that splits the image index an earlier run saved (resumed after ingest with `--from-nodes`, or a
pipeline without ingest: `--pipelines=split`) stops, before its first node, where the folders that index was
made of have changed since: files added (the photos an error asked for), removed or moved. Its nodes would
have split the files as they were then, and a split too small stopped the same way again. Cheap: one
listing of each folder (file names, no file read), the one a scan starts with."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.framework.project import pipelines
from kedro.io.core import DatasetError
from kedro.pipeline import Pipeline

from crack_pipeline.run_filters import NODE_OPTIONS, pipelines_making
from crack_pipeline.vision.data.folder import listed_names
from crack_pipeline.vision.errors import InputError

INDEX, SPLIT = "image_index", "split_manifest"
# The filters that leave ingest out of a pipeline that holds it (`--to-nodes` and `--to-outputs` keep what
# comes before).
_FILTERS = {**NODE_OPTIONS, "from_inputs": "--from-inputs", "namespaces": "--namespaces", "tags": "--tags"}
_FILTERS.pop("to_nodes")
_FILTERS["only_missing_outputs"] = "--only-missing-outputs"  # ingest left out where its outputs exist


def folder_changes(index: pd.DataFrame) -> list[str]:
    """How each folder `index` was made of (its `root` column) differs from its listing now: "<folder>: N
    files added since (e.g. <name>), M removed" or "<folder> no longer exists"; [] where none does."""
    changes = []
    for root, rows in index.groupby("root", sort=True):
        try:
            now = listed_names(Path(root))
        except FileNotFoundError:
            changes.append(f"{root} no longer exists")
            continue
        then = set(rows.path)
        added, removed = sorted(now - then), sorted(then - now)
        if added or removed:
            changes.append(
                f"{root}: {len(added):,} files added{_e_g(added)}, {len(removed):,} removed{_e_g(removed)}"
            )
    return changes


def _e_g(names: list[str]) -> str:
    return f" (e.g. {names[0]})" if names else ""


def rerun_command(run_params: dict[str, Any]) -> str:
    """What to run for an index made of the folders as they are now: the run's pipelines without the filters
    that left ingest out, where they make the index; else the smallest pipeline that makes it, first."""
    names = run_params.get("pipeline_names") or ["__default__"]
    makes = any(INDEX in pipelines[name].all_outputs() for name in names)
    if makes:
        given = [option for key, option in _FILTERS.items() if run_params.get(key)]
        command = "kedro run" + (
            f" --pipelines={','.join(names)}" if run_params.get("pipeline_names") else ""
        )
        return f"run it whole, ingest first: {command} (the same --params, without {', '.join(given)})"
    maker = (pipelines_making(INDEX) or ["ingest"])[0]
    return f"make the index again first: kedro run --pipelines={maker} (the same --params), then this command"


def require_current_index(pipeline: Pipeline, catalog: Any, run_params: dict[str, Any]) -> None:
    """An `InputError` for a run that splits the image index an earlier run made (`image_index` among its
    inputs, not its outputs, read by a node that makes the split manifest) when the folders it was made of
    have changed since (`folder_changes`): it names them, how many files were added and removed, and what to
    run. A run that trains on the split made before (`--pipelines=train`) reads only the split's images in
    it, and a version asked for (`--load-versions`) is read as it is."""
    pipeline = _to_run(pipeline, catalog, run_params)
    splits = any(INDEX in node.inputs and SPLIT in node.outputs for node in pipeline.nodes)
    if not splits or INDEX not in pipeline.inputs() or INDEX in (run_params.get("load_versions") or {}):
        return
    try:
        index = catalog.load(INDEX)
    except DatasetError:  # none yet: the node's load says which run makes it
        return
    if "root" not in index.columns or not (changes := folder_changes(index)):
        return
    raise InputError(
        f"{INDEX}, made by an earlier run, no longer lists the files of the folder it was made of "
        f"({'; '.join(changes)}), and this run would read them as they were then: "
        + rerun_command(run_params)
    )


def _to_run(pipeline: Pipeline, catalog: Any, run_params: dict[str, Any]) -> Pipeline:
    """The nodes the runner runs: with `--only-missing-outputs`, those whose saved outputs are missing and
    those after them, as Kedro's runner filters them after this check (ingest, its index saved, left out:
    the split read the index made before photos were added, and stopped the same way)."""
    if not run_params.get("only_missing_outputs"):
        return pipeline
    from kedro.runner.runner import _build_node_children_map, _determine_nodes_to_run  # Kedro's own filter

    nodes = _determine_nodes_to_run(
        list(reversed(pipeline.nodes)),
        catalog,
        _build_node_children_map(pipeline),
        logging.getLogger(__name__),
    )
    return Pipeline([node for node in pipeline.nodes if node in nodes])
