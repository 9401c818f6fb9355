"""Lineage: what kedro-viz shows, read from the data its site is drawn from (`kedro viz build` writes the same
JSON the page fetches): the nodes by name, the pipeline menu, the dataset lineage and the layer order."""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path

import pytest

LAYERS = ["raw", "intermediate", "primary", "model_input", "models", "model_output", "reporting"]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The static kedro-viz site of a scratch copy of the project."""
    from tests.conftest import kedro, make_project

    project = make_project(tmp_path_factory.mktemp("viz"))
    result = kedro(project, "viz", "build")
    assert result.exit_code == 0, result.output
    return project / "build" / "api"


def graph(site: Path, pipeline: str) -> tuple[dict[str, dict], list[tuple[str, str]]]:
    """The nodes (by id) and edges (source, target ids) kedro-viz draws for `pipeline`."""
    data = json.loads((site / "pipelines" / pipeline).read_text())
    return {n["id"]: n for n in data["nodes"]}, [(e["source"], e["target"]) for e in data["edges"]]


def reachable(edges: list[tuple[str, str]], start: str) -> set[str]:
    following: dict[str, list[str]] = {}
    for source, target in edges:
        following.setdefault(source, []).append(target)
    seen, queue = {start}, deque([start])
    while queue:
        for after in following.get(queue.popleft(), []):
            if after not in seen:
                seen.add(after)
                queue.append(after)
    return seen


def test_the_default_pipeline_shows_the_flow_from_photos_to_heatmaps(site):
    nodes, edges = graph(site, "__default__")
    ids = {node["name"]: node_id for node_id, node in nodes.items()}
    flow = [
        "synthetic_images",
        "scan_images",
        "image_index",
        "split_images",
        "split_manifest",
        "build_split_tensors",
        "split_tensors",
        "small_cnn",  # a variant's namespace: its training, checkpoint and evaluation
        "efficientnet_lite0",
        "compare_variants",
        "champion_decision",
        "promote_champion",
        "champion",
        "explain_split",
        "explanations",
        "explain_quality",
    ]
    assert set(flow) <= set(ids), f"missing: {sorted(set(flow) - set(ids))}"
    downstream = reachable(edges, ids["synthetic_images"])
    assert {ids[name] for name in flow[1:]} <= downstream, "every step descends from the photos"
    assert ids["explanations"] in reachable(edges, ids["promote_champion"]), "explained after the promotion"


def test_the_pipeline_menu_lists_every_pipeline_and_each_shows_its_own_nodes(site):
    listed = {p["id"] for p in json.loads((site / "main").read_text())["pipelines"]}
    expected = {"__default__", "synth", "ingest", "split", "train", "evaluate", "explain"}
    assert expected | {"evaluate_folder", "from_folder", "retrain", "set_champion"} <= listed
    explain, _ = graph(site, "explain")
    names = {node["name"] for node in explain.values()}
    assert "explain_split" in names and "train_variant" not in names and "scan_images" not in names


def test_every_step_reads_from_earlier_layers_than_it_writes(site):
    """The layers run from raw photos down to reports, in every pipeline of the menu: no step writes to a
    layer above one it reads (kedro-viz drops the layers of a pipeline where one does: retrain did)."""
    order = {layer: i for i, layer in enumerate(LAYERS)}
    for pipeline in (p["id"] for p in json.loads((site / "main").read_text())["pipelines"]):
        nodes, edges = graph(site, pipeline)
        layered = {i: order[n["layer"]] for i, n in nodes.items() if n["type"] == "data" and n.get("layer")}
        if pipeline == "__default__":
            assert {nodes[i]["layer"] for i in layered} == set(LAYERS), "every layer is used"
        unlayered = [n["name"] for n in nodes.values() if n["type"] == "data" and not n.get("layer")]
        assert not unlayered, f"{pipeline}: datasets without a layer: {unlayered}"
        for step in (i for i, n in nodes.items() if n["type"] in ("task", "modularPipeline")):
            reads = [layered[s] for s, t in edges if t == step and s in layered]
            writes = [layered[t] for s, t in edges if s == step and t in layered]
            if reads and writes:
                assert max(reads) <= min(writes), (
                    f"{pipeline}: {nodes[step]['name']} writes above what it reads"
                )
        # kedro-viz orders the layers by what a pipeline's steps read and write; a cycle drops them all.
        layers = json.loads((site / "pipelines" / pipeline).read_text())["layers"]
        if pipeline in ("__default__", "from_folder", "retrain"):  # the runs that go from photos to reports
            assert layers == LAYERS, f"{pipeline}: layers {layers}"
