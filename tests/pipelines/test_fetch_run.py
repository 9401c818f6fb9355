"""`kedro run --pipelines=fetch`: a public data set from a server on loopback into data/01_raw, ready for the
command the run prints; the only pipeline that touches the network, and part of no other."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from kedro.framework.project import pipelines
from kedro.framework.startup import bootstrap_project
from kedro.io.core import DatasetError
from omegaconf import OmegaConf

from tests import fetch_fixtures
from tests.conftest import image_bytes, kedro, logged_lines, run_session
from tests.fetch_fixtures import mat_bytes, zip_of
from tests.test_layout import imports

SRC = Path(__file__).resolve().parents[2] / "src" / "crack_pipeline"
loopback = fetch_fixtures.loopback  # the fixture: a file server on 127.0.0.1
NETWORK_MODULES = ("urllib.request", "http.client", "socket", "requests", "urllib3", "httpx", "ftplib")


def cfd_archive(tmp_path: Path) -> bytes:
    """Two CFD-style photos of 192 x 96 px (two tiles each at mask_tiles' 96 px), a crack across the first
    tile, and the repository's photo without ground truth."""
    segmentation = np.ones((96, 192), np.uint8)
    segmentation[20:76, 48] = 2
    files = {
        f"image/{n}.jpg": image_bytes((192, 96), fmt="JPEG", seed=i)
        for i, n in enumerate(["001", "002", "201"])
    }
    files |= {f"groundTruth/{n}.mat": mat_bytes(segmentation, tmp_path) for n in ["001", "002"]}
    return zip_of({f"CrackForest-dataset-ed57c2d/{name}": content for name, content in files.items()})


def test_fetch_lands_cfd_ready_for_the_command_it_prints_and_a_second_run_does_nothing(
    kedro_project, loopback, tmp_path
):
    loopback.files["cfd.zip"] = cfd_archive(tmp_path)
    params = {"fetch": {"dataset": "cfd", "url": loopback.url("cfd.zip")}}
    with logged_lines() as lines:
        run_session(kedro_project, params, pipeline_names=["fetch"])
    folder = kedro_project / "data/01_raw/cfd"
    assert sorted(p.name for p in (folder / "images").iterdir()) == ["001.jpg", "002.jpg"]
    assert sorted(p.name for p in (folder / "masks").iterdir()) == ["001.png", "002.png"]
    lock = json.loads((kedro_project / "conf/base/fetch.lock.json").read_text())
    assert set(lock) == {"cfd"} and lock["cfd"]["url"] == loopback.url("cfd.zip")

    summary_file = sorted((kedro_project / "data/08_reporting/fetch_summary.json").iterdir())[-1]
    summary = json.loads((summary_file / "fetch_summary.json").read_text())
    assert (
        summary["status"] == "fetched"
        and summary["files"] == 4
        and summary["sha256"] == lock["cfd"]["sha256"]
    )
    assert "non-commercial" in summary["license"]
    command = summary["next_command"]
    assert f"fetch: next: {command}" in lines
    assert command.startswith("kedro run --pipelines=mask_tiles --params=")

    # The printed command, run as the command line would parse its --params: tiles from the fetched photos.
    dotted = command.split("--params=", 1)[1].split(",")
    run_session(
        kedro_project, OmegaConf.to_container(OmegaConf.from_dotlist(dotted)), pipeline_names=["mask_tiles"]
    )
    tiles = kedro_project / "data/02_intermediate/mask_tiles/cfd"
    assert sorted(p.name for p in (tiles / "Positive").iterdir()) == [
        "001_y00000_x00000.png",
        "002_y00000_x00000.png",
    ]
    # Made again alike, it stays; cut otherwise, it is refused, not replaced under what trained on it.
    run_session(
        kedro_project, OmegaConf.to_container(OmegaConf.from_dotlist(dotted)), pipeline_names=["mask_tiles"]
    )
    smaller = OmegaConf.from_dotlist([*dotted, "mask_tiles.tiling.tile_size=48"])
    refused = (  # naming the setting to change (it said "Save under another name")
        r"mask_tiles/cfd holds other files than this run made .* Give it another name "
        r"\(--params=mask_tiles.name=<new name>; mask_tiles.name is 'cfd' now\), or delete the folder"
    )
    with pytest.raises(DatasetError, match=refused):
        run_session(kedro_project, OmegaConf.to_container(smaller), pipeline_names=["mask_tiles"])
    assert len(list((tiles / "Positive").iterdir())) == 2
    assert len(list(tiles.with_suffix(".csv").iterdir())) == 2, "a summary per run that made its tiles"

    requests = len(loopback.ranges)
    with logged_lines() as lines:
        run_session(kedro_project, params, pipeline_names=["fetch"])
    assert len(loopback.ranges) == requests, "a second fetch makes no request"
    assert f"fetch: cfd is already in {kedro_project.resolve() / 'data/01_raw/cfd'}; nothing fetched" in lines


def test_an_unknown_data_set_stops_the_run_listing_the_known_ones(kedro_project):
    result = kedro(kedro_project, "run", "--pipelines=fetch", "--params=fetch.dataset=imagenet")
    assert result.exit_code == 1
    assert (
        "Error: fetch.dataset: 'imagenet' is not a known data set; known: cfd, ozgenel, sdnet2018"
        in result.output
    )


def test_fetch_is_in_no_other_pipeline_and_no_other_module_opens_a_connection(kedro_project):
    bootstrap_project(kedro_project)
    fetching = set(pipelines["fetch"].nodes)
    assert fetching
    assert not {name for name, p in pipelines.items() if name != "fetch" and set(p.nodes) & fetching}
    networked = {
        path.relative_to(SRC).as_posix()
        for path in SRC.rglob("*.py")
        if any(m == n or m.startswith(n + ".") for m in imports(path) for n in NETWORK_MODULES)
    }
    assert networked == {"vision/data/download.py"}
