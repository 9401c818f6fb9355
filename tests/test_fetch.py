"""The public data sets in one command, against a server on loopback: unpacked in the layout ingest and
mask_tiles read, checked against `fetch.sha256`, the publisher's or the lock file's SHA-256, never fetched
twice, one fetch of a data set at a time. (Downloads: test_fetch_download; archives: test_fetch_archives.)"""

from __future__ import annotations

import fcntl
import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from crack_pipeline.vision.data import fetch
from crack_pipeline.vision.data.fetch import FetchConfig, fetch_dataset
from crack_pipeline.vision.data.labels import DEFAULT_ALIASES, LabelResolver
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.settings import ConfigError, settings_from
from tests import fetch_fixtures
from tests.conftest import image_bytes
from tests.fetch_fixtures import (
    OZGENEL,
    OZGENEL_FILE,
    SDNET,
    SDNET_FILE,
    config,
    downloads,
    files_below,
    leftovers,
    mat_bytes,
    sdnet_bundle,
    segmentation,
    sha256,
    tar_of,
    with_publisher_sha256,
    zip_of,
)

loopback = fetch_fixtures.loopback  # the fixture: a file server on 127.0.0.1


@pytest.mark.parametrize("packed", [zip_of, tar_of], ids=["zip", "tar.gz"])
def test_a_data_set_is_downloaded_checked_and_unpacked_as_ingest_reads_it(
    tmp_path, loopback, monkeypatch, packed
):
    loopback.files["ozgenel.bin"] = archive = packed(OZGENEL)
    with_publisher_sha256(monkeypatch, "ozgenel", archive)
    summary = fetch_dataset(config(tmp_path, "ozgenel", loopback.url("ozgenel.bin")))

    folder = tmp_path / "raw" / "ozgenel"
    assert files_below(folder) == [
        "Negative/00003.jpg",
        "Negative/00004.jpg",
        "Positive/00001.jpg",
        "Positive/00002.jpg",
    ]
    assert (folder / "Positive/00001.jpg").read_bytes() == OZGENEL[
        "Concrete Crack Images for Classification/Positive/00001.jpg"
    ]
    LabelResolver(DEFAULT_ALIASES).require_labels(files_below(folder))
    assert summary["status"] == "fetched" and summary["files"] == 4
    assert summary["downloaded_bytes"] == len(archive)
    assert summary["sha256_check"] == "matches the publisher's"
    assert summary["next_command"] == f"kedro run --pipelines=from_folder --params=data.source_dir={folder}"
    assert leftovers(tmp_path) == ["ozgenel"]
    assert not (tmp_path / "lock.json").exists(), "a publisher's checksum needs no lock entry"


def test_sdnet_bundle_with_its_inner_zip_lands_as_surfaces_with_labelled_folders(tmp_path, loopback):
    loopback.files["sdnet"] = sdnet_bundle()
    fetch_dataset(config(tmp_path, "sdnet2018", loopback.url("sdnet")))
    folder = tmp_path / "raw" / "sdnet2018"
    assert files_below(folder) == sorted(SDNET)
    resolver = LabelResolver(DEFAULT_ALIASES)
    assert {resolver.label_of(name) for name in SDNET if "/C" in name} == {"crack"}
    assert {resolver.label_of(name) for name in SDNET if "/U" in name} == {"no_crack"}


def test_cfd_photos_with_ground_truth_land_beside_their_masks_as_png(tmp_path, loopback):
    photos = {
        f"image/{n}.jpg": image_bytes((30, 20), fmt="JPEG", seed=i)
        for i, n in enumerate(["001", "002", "201"])
    }
    truths = {
        f"groundTruth/{n}.mat": mat_bytes(segmentation(i), tmp_path) for i, n in enumerate(["001", "002"])
    }
    loopback.files["cfd.zip"] = zip_of(
        {f"CrackForest-dataset-ed57c2d/{k}": v for k, v in (photos | truths).items()}
    )
    fetch_dataset(config(tmp_path, "cfd", loopback.url("cfd.zip")))

    folder = tmp_path / "raw" / "cfd"
    assert files_below(folder) == ["images/001.jpg", "images/002.jpg", "masks/001.png", "masks/002.png"]
    for i, name in enumerate(["001", "002"]):
        mask = Image.open(folder / "masks" / f"{name}.png")
        assert mask.mode == "L" and mask.size == (30, 20)
        assert np.array_equal(np.asarray(mask), np.where(segmentation(i) == 2, 255, 0))


def test_a_mismatch_with_the_publishers_checksum_deletes_the_download_and_says_how_to_override_it(
    tmp_path, loopback
):
    loopback.files["ozgenel.zip"] = archive = zip_of(OZGENEL)
    with pytest.raises(InputError) as error:
        fetch_dataset(config(tmp_path, "ozgenel", loopback.url("ozgenel.zip")))
    message = str(error.value)
    assert re.search(
        f"Classification.rar: SHA-256 {sha256(archive)}, expected {fetch.PUBLIC_DATASETS['ozgenel'].sha256} "
        f"\\(the publisher's\\)",
        message,
    )
    assert "nothing was unpacked" in message
    # The mirror the run was given stays in the command it is told to run again.
    mirror = loopback.url("ozgenel.zip")
    assert f"--params=fetch.dataset=ozgenel,fetch.url={mirror},fetch.sha256=<64" in message
    assert "entry" not in message, "a publisher's checksum is in no lock file"
    assert leftovers(tmp_path) == [] and not (downloads(tmp_path) / OZGENEL_FILE).exists()


def test_fetch_sha256_overrides_the_publishers_for_one_run_and_is_checked_like_it(tmp_path, loopback):
    loopback.files["mirror"] = archive = zip_of(OZGENEL)
    with pytest.raises(InputError, match=r"expected 0{64} \(fetch.sha256\).*Check the value given"):
        fetch_dataset(config(tmp_path, "ozgenel", loopback.url("mirror"), sha256="0" * 64))

    summary = fetch_dataset(config(tmp_path, "ozgenel", loopback.url("mirror"), sha256=sha256(archive)))
    assert summary["sha256_check"] == "matches fetch.sha256" and summary["files"] == 4
    assert not (tmp_path / "lock.json").exists(), "an override is for its run only"


def test_fetch_sha256_must_be_a_sha256():
    with pytest.raises(ConfigError, match="fetch.sha256 is 64 hex digits in lower case"):
        settings_from(FetchConfig, {"dataset": "ozgenel", "sha256": "08D7DC50"}, "fetch")


def test_the_first_download_records_its_checksum_and_later_downloads_must_match_it(tmp_path, loopback):
    loopback.files["sdnet"] = first = sdnet_bundle()
    settings = config(tmp_path, "sdnet2018", loopback.url("sdnet"))
    summary = fetch_dataset(settings)
    lock = json.loads((tmp_path / "lock.json").read_text())
    assert lock["sdnet2018"] | {"recorded": "-"} == {
        "url": loopback.url("sdnet"),
        "file": SDNET_FILE,
        "bytes": len(first),
        "sha256": sha256(first),
        "recorded": "-",
    }
    lock_file = tmp_path / "lock.json"
    assert summary["sha256_check"] == f"recorded in {lock_file} (first download; later fetches must match)"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".lock.json")] == [], "no temporary file"

    shutil.rmtree(tmp_path / "raw")  # gone, cache and all: the next fetch downloads again...
    loopback.files["sdnet"] = zip_of(SDNET)  # ...and the publisher now serves other bytes
    with pytest.raises(InputError) as error:
        fetch_dataset(settings)
    assert f"expected {sha256(first)} (the one recorded in {lock_file} on " in str(error.value)
    assert f"remove the 'sdnet2018' entry from {lock_file}" in str(error.value)
    assert leftovers(tmp_path) == []
    assert json.loads(lock_file.read_text()) == lock, "a mismatch never rewrites the lock"


@pytest.mark.parametrize("how", ["saved by hand", "served as a file"])
def test_a_bad_archive_no_checksum_vouched_for_is_deleted_unrecorded_and_downloaded_again(
    tmp_path, loopback, how
):
    """A web page served as octet-stream, or the wrong file saved by hand: unpacking fails, and the next run
    must not find it in the cache and fail the same way."""
    settings = config(tmp_path, "sdnet2018", loopback.url("sdnet"))
    cached = downloads(tmp_path) / SDNET_FILE
    if how == "saved by hand":
        cached.parent.mkdir(parents=True)
        cached.write_bytes(b"<html>Checking your browser</html>")
    else:
        loopback.files["sdnet"] = b"<html>Checking your browser</html>"
    with pytest.raises(InputError) as error:
        fetch_dataset(settings)
    assert f"{cached}: neither a zip, a tar nor a RAR archive" in str(error.value)
    assert "it was deleted and the next run downloads it again" in str(error.value)
    assert f"save it as {cached}" in str(error.value)
    assert not cached.exists() and not (tmp_path / "lock.json").exists() and leftovers(tmp_path) == []

    loopback.files["sdnet"] = archive = sdnet_bundle()
    assert fetch_dataset(settings)["downloaded_bytes"] == len(archive)
    assert json.loads((tmp_path / "lock.json").read_text())["sdnet2018"]["sha256"] == sha256(archive)


def test_an_invalid_lock_file_stops_the_run_before_anything_is_downloaded(tmp_path, loopback):
    loopback.files["sdnet"] = sdnet_bundle()
    (tmp_path / "lock.json").write_text('{"sdnet2018": {"sha256": "')
    with pytest.raises(InputError, match="lock.json: not valid JSON .* take it back from git"):
        fetch_dataset(config(tmp_path, "sdnet2018", loopback.url("sdnet")))
    (tmp_path / "lock.json").write_text('{"sdnet2018": {"sha256": "abc"}}')
    with pytest.raises(InputError, match="the entry 'sdnet2018' has no \"sha256\" of 64 hex digits"):
        fetch_dataset(config(tmp_path, "sdnet2018", loopback.url("sdnet")))
    assert loopback.ranges == []


def test_a_second_fetch_of_the_same_data_set_stops_while_one_runs(tmp_path, loopback):
    loopback.files["sdnet"] = sdnet_bundle()
    lock = downloads(tmp_path) / f"{SDNET_FILE}.lock"
    lock.parent.mkdir(parents=True)
    with lock.open("a") as running:  # what a fetch in another process holds
        fcntl.flock(running, fcntl.LOCK_EX)
        with pytest.raises(InputError, match=f"another fetch of sdnet2018 is running \\(it holds {lock}\\)"):
            fetch_dataset(config(tmp_path, "sdnet2018", loopback.url("sdnet")))
    assert loopback.ranges == [] and not (downloads(tmp_path) / f"{SDNET_FILE}.part").exists()
    assert fetch_dataset(config(tmp_path, "sdnet2018", loopback.url("sdnet")))["status"] == "fetched"


def test_a_second_fetch_makes_no_request_and_changes_nothing(tmp_path, loopback):
    loopback.files["sdnet"] = sdnet_bundle()
    settings = config(tmp_path, "sdnet2018", loopback.url("sdnet"))
    fetch_dataset(settings)
    folder = tmp_path / "raw" / "sdnet2018"
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    requests = len(loopback.ranges)

    summary = fetch_dataset(settings)
    assert len(loopback.ranges) == requests
    assert summary["status"] == "already present" and summary["files"] == len(SDNET)
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == before

    shutil.rmtree(folder)  # removed by hand: unpacked again from the download cache, still no request
    summary = fetch_dataset(settings)
    assert summary["downloaded_bytes"] == 0 and len(loopback.ranges) == requests
    assert summary["sha256_check"].startswith("matches the one recorded in ")
    assert files_below(folder) == sorted(SDNET)


def test_an_unknown_data_set_is_refused_with_the_known_ones():
    with pytest.raises(
        InputError, match=r"'imagenet' is not a known data set; known: cfd, ozgenel, sdnet2018"
    ):
        fetch_dataset(FetchConfig(dataset="imagenet"))
    with pytest.raises(InputError, match=r"^fetch.dataset: is not set; known: cfd, ozgenel, sdnet2018"):
        fetch_dataset(FetchConfig())  # it said "None is not a known data set"


def test_the_lock_file_follows_the_umask_like_every_output(tmp_path):
    """NamedTemporaryFile's 0600 outlived the rename: a checksum one user recorded, no other could read."""
    import os
    import stat

    from crack_pipeline.vision.data.checksums import read_lock, record_sha256

    archive, lock = tmp_path / "cfd.zip", tmp_path / "conf/fetch.lock.json"
    archive.write_bytes(b"zip")
    before = os.umask(0o022)
    try:
        record_sha256(lock, "cfd", "https://example.org/cfd.zip", archive, "a" * 64)
    finally:
        os.umask(before)
    assert stat.S_IMODE(lock.stat().st_mode) == 0o644 and read_lock(lock)["cfd"]["sha256"] == "a" * 64
