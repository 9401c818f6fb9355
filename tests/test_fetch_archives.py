"""A fetched archive unpacked safely: a member that could land outside is refused, a RAR needs bsdtar, errors
name the archive and the member (never a temporary path), and no half-unpacked folder outlives a run."""

from __future__ import annotations

import shutil

import pytest

from crack_pipeline.vision.data import archives
from crack_pipeline.vision.data.fetch import fetch_dataset
from crack_pipeline.vision.errors import InputError
from tests import fetch_fixtures
from tests.fetch_fixtures import (
    OZGENEL_FILE,
    SDNET,
    SDNET_FILE,
    config,
    downloads,
    files_below,
    leftovers,
    rar_of,
    sdnet_bundle,
    tar_of,
    with_publisher_sha256,
    zip_of,
)

loopback = fetch_fixtures.loopback  # the fixture: a file server on 127.0.0.1
needs_bsdtar = pytest.mark.skipif(
    shutil.which(archives.RAR_TOOL) is None, reason=f"needs {archives.RAR_TOOL} (libarchive-tools)"
)


@pytest.mark.parametrize(
    "packed",
    [
        lambda tmp: zip_of({"Positive/1.jpg": b"x", "Negative/2.jpg": b"x", "../escaped.jpg": b"x"}),
        lambda tmp: tar_of({"Positive/1.jpg": b"x", f"{tmp}/escaped.jpg": b"x"}),
        lambda tmp: tar_of(
            {"Positive/1.jpg": b"x", "Negative/2.jpg": b"x"}, links={"Negative/3.jpg": "../../../escaped"}
        ),
        lambda tmp: tar_of(
            {"Positive/1.jpg": b"x", "Negative/2.jpg": b"x"}, links={"Negative/3.jpg": "../Positive/1.jpg"}
        ),
        pytest.param(
            lambda tmp: rar_of({"Positive/1.jpg": b"x", "../escaped.jpg": b"x"}), marks=needs_bsdtar
        ),
    ],
    ids=["zip-dotdot", "tar-absolute", "tar-link-out", "tar-link-in", "rar-dotdot"],
)
def test_a_member_that_could_land_outside_is_refused_and_nothing_is_left(
    tmp_path, loopback, monkeypatch, packed
):
    loopback.files["evil"] = archive = packed(tmp_path)
    with_publisher_sha256(monkeypatch, "ozgenel", archive)
    with pytest.raises(InputError, match="outside|is a link"):
        fetch_dataset(config(tmp_path, "ozgenel", loopback.url("evil")))
    assert leftovers(tmp_path) == []
    assert list(tmp_path.rglob("escaped*")) == [], "every escape aims inside the test's own folder"


@needs_bsdtar
def test_ozgenels_rar_is_unpacked_with_bsdtar(tmp_path, loopback, monkeypatch):
    loopback.files["rar"] = archive = rar_of({"Positive/1.jpg": b"crack", "Negative/2.jpg": b"clean"})
    with_publisher_sha256(monkeypatch, "ozgenel", archive)
    fetch_dataset(config(tmp_path, "ozgenel", loopback.url("rar")))
    assert (tmp_path / "raw" / "ozgenel" / "Positive" / "1.jpg").read_bytes() == b"crack"


def test_without_bsdtar_a_rar_stops_naming_the_tool_to_install_and_keeps_the_download(
    tmp_path, loopback, monkeypatch
):
    loopback.files["rar"] = archive = rar_of({"Positive/1.jpg": b"crack"})
    with_publisher_sha256(monkeypatch, "ozgenel", archive)
    monkeypatch.setattr(archives.shutil, "which", lambda name: None)
    with pytest.raises(InputError, match="needs the `bsdtar` command: install it .*libarchive-tools"):
        fetch_dataset(config(tmp_path, "ozgenel", loopback.url("rar")))
    assert leftovers(tmp_path) == []
    assert (downloads(tmp_path) / OZGENEL_FILE).exists(), "checked bytes: downloading them again is no cure"


def test_a_damaged_inner_zip_is_named_as_a_member_of_the_archive(tmp_path, loopback):
    loopback.files["sdnet"] = sdnet_bundle(inner=b"PK\x03\x04 cut short")
    with pytest.raises(InputError) as error:
        fetch_dataset(config(tmp_path, "sdnet2018", loopback.url("sdnet")))
    message = str(error.value)
    assert message.startswith(f"{downloads(tmp_path) / SDNET_FILE}: member SDNET2018.zip: ")
    assert "unpacking-" not in message, "no temporary folder, gone by the time it is read"


def test_folders_of_a_killed_unpacking_are_removed_by_the_next_fetch(tmp_path, loopback):
    killed = tmp_path / "raw" / ".sdnet2018.unpacking-k1ll3d"
    (killed / "unpacked" / "D").mkdir(parents=True)
    other = tmp_path / "raw" / ".cfd.unpacking-r4nn1ng"  # another data set's: not this fetch's business
    other.mkdir()
    loopback.files["sdnet"] = sdnet_bundle()
    fetch_dataset(config(tmp_path, "sdnet2018", loopback.url("sdnet")))
    assert leftovers(tmp_path) == [".cfd.unpacking-r4nn1ng", "sdnet2018"]


def test_a_folder_another_run_put_in_place_first_is_kept_and_this_unpacking_is_done(tmp_path):
    archive, target = tmp_path / "sdnet.zip", tmp_path / "raw" / "sdnet2018"
    archive.write_bytes(zip_of(SDNET))

    def arranged_while_another_run_finished(unpacked, out):
        archives.sdnet_layout(unpacked, out)
        (target / "D").mkdir(parents=True)
        (target / "D" / "theirs.jpg").write_bytes(b"jpeg")

    archives.unpack_as(archive, target, arranged_while_another_run_finished)
    assert files_below(target) == ["D/theirs.jpg"]
    assert [p.name for p in target.parent.iterdir()] == ["sdnet2018"], "the temporary folder is gone"
