"""The public data sets in one command, against a server on loopback: downloaded (resumed where a
connection broke off), checked against the publisher's or the lock file's SHA-256, unpacked in the layout
ingest and mask_tiles read, and never half-unpacked, overwritten or fetched twice."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import shutil
import struct
import tarfile
import threading
import zipfile
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from crack_pipeline.vision.data import archives, fetch
from crack_pipeline.vision.data.fetch import FetchConfig, fetch_dataset
from crack_pipeline.vision.data.labels import DEFAULT_ALIASES, LabelResolver
from crack_pipeline.vision.errors import InputError
from tests.conftest import image_bytes


@dataclasses.dataclass
class Loopback:
    """A file server on 127.0.0.1 that honours `Range: bytes=N-` and records every request's Range."""

    root: str
    files: dict[str, bytes] = dataclasses.field(default_factory=dict)
    ranges: list[str | None] = dataclasses.field(default_factory=list)
    cut_after: int | None = None  # the next response stops after this many bytes of its body
    content_type: str = "application/octet-stream"

    def url(self, name: str) -> str:
        return f"{self.root}/{name}"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        served: Loopback = self.server.loopback
        served.ranges.append(self.headers.get("Range"))
        body = served.files.get(self.path.lstrip("/"))
        if body is None:
            self.send_error(404)
            return
        asked = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        start = int(asked.group(1)) if asked else 0
        if start >= len(body) > 0:
            self.send_error(416)
            return
        self.send_response(206 if asked else 200)
        if asked:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Type", served.content_type)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        payload = body[start:]
        if served.cut_after is not None:
            payload, served.cut_after = payload[: served.cut_after], None
            self.close_connection = True
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.loopback = Loopback(root=f"http://127.0.0.1:{server.server_port}")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.loopback
    finally:
        server.shutdown()
        server.server_close()


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def tar_of(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return buffer.getvalue()


def rar_of(files: dict[str, bytes]) -> bytes:
    """A RAR 4 archive whose files are stored (no compression): nothing in Python writes RAR."""

    def block(kind: int, flags: int, fields: bytes = b"", data: bytes = b"") -> bytes:
        header = struct.pack("<BHH", kind, flags, 7 + len(fields)) + fields
        return struct.pack("<H", zlib.crc32(header) & 0xFFFF) + header + data

    out = archives.RAR_MAGIC + b"\x00" + block(0x73, 0, bytes(6))
    for name, content in files.items():
        size, crc, raw = len(content), zlib.crc32(content), name.encode()
        fields = struct.pack("<IIBIIBBHI", size, size, 3, crc, 0x21, 20, 0x30, len(raw), 0o644) + raw
        out += block(0x74, 0x8000, fields, content)
    return out + block(0x7B, 0x4000)


OZGENEL = {
    f"Concrete Crack Images for Classification/{folder}/{i:05d}.jpg": image_bytes(
        (32, 32), fmt="JPEG", seed=i
    )
    for i, folder in enumerate(["Positive", "Positive", "Negative", "Negative"], start=1)
}
SDNET = {f"{s}/{c}{s}/70{i}-{j}.jpg": b"jpeg" for i, s in enumerate("DPW") for c in "CU" for j in (1, 2)}


def sdnet_bundle() -> bytes:
    """The publisher's bundle: a README beside the data set zipped once more."""
    return zip_of({"DATA_Maguire_20180517_ALL/README.txt": b"SDNET2018", "SDNET2018.zip": zip_of(SDNET)})


def segmentation(seed: int) -> np.ndarray:
    """A CFD-style segmentation (1 = background, 2 = crack) of a 20 x 30 photo."""
    seg = np.ones((20, 30), np.uint8)
    seg[seed : seed + 10, 5 + seed] = 2
    return seg


def mat_bytes(seg: np.ndarray, tmp_path: Path) -> bytes:
    """A .mat as CFD's: `groundTruth`, a 1x1 cell holding a struct with Segmentation and Boundaries."""
    truth = np.empty((1, 1), dtype=object)
    truth[0, 0] = {"Segmentation": seg, "Boundaries": np.zeros_like(seg, bool)}
    path = tmp_path / "truth.mat"
    scipy.io.savemat(path, {"groundTruth": truth})
    return path.read_bytes()


def config(tmp_path: Path, dataset: str, url: str) -> FetchConfig:
    return FetchConfig(
        dataset=dataset, url=url, raw_dir=str(tmp_path / "raw"), lock_file=str(tmp_path / "lock.json")
    )


def with_publisher_sha256(monkeypatch, name: str, content: bytes) -> None:
    known = fetch.PUBLIC_DATASETS[name]
    sha256 = hashlib.sha256(content).hexdigest()
    monkeypatch.setitem(fetch.PUBLIC_DATASETS, name, dataclasses.replace(known, sha256=sha256))


def files_below(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def leftovers(tmp_path: Path) -> list[str]:
    """Anything a failed unpacking could have left in the raw folder."""
    return sorted(p.name for p in (tmp_path / "raw").iterdir() if p.name != ".downloads")


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
    assert summary["downloaded_bytes"] == len(archive) and summary["checked_against"] == "the publisher's"
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


def test_a_checksum_mismatch_deletes_the_download_and_unpacks_nothing(tmp_path, loopback):
    loopback.files["ozgenel.zip"] = archive = zip_of(OZGENEL)
    with pytest.raises(InputError) as error:
        fetch_dataset(config(tmp_path, "ozgenel", loopback.url("ozgenel.zip")))
    actual = hashlib.sha256(archive).hexdigest()
    assert re.search(
        f"Classification.rar: SHA-256 {actual}, expected {fetch.PUBLIC_DATASETS['ozgenel'].sha256}",
        str(error.value),
    )
    assert "the publisher's" in str(error.value) and "nothing was unpacked" in str(error.value)
    assert leftovers(tmp_path) == [] and list((tmp_path / "raw" / ".downloads").iterdir()) == []


def test_the_first_download_records_its_checksum_and_later_downloads_must_match_it(tmp_path, loopback):
    loopback.files["sdnet"] = first = sdnet_bundle()
    settings = config(tmp_path, "sdnet2018", loopback.url("sdnet"))
    summary = fetch_dataset(settings)
    lock = json.loads((tmp_path / "lock.json").read_text())
    assert lock["sdnet2018"] | {"recorded": "-"} == {
        "url": loopback.url("sdnet"),
        "file": "DATA_Maguire_20180517_ALL.zip",
        "bytes": len(first),
        "sha256": hashlib.sha256(first).hexdigest(),
        "recorded": "-",
    }
    assert "at this first download" in summary["checked_against"]

    shutil.rmtree(tmp_path / "raw")  # gone, cache and all: the next fetch downloads again...
    loopback.files["sdnet"] = zip_of(SDNET)  # ...and the publisher now serves other bytes
    with pytest.raises(
        InputError, match=f"expected {lock['sdnet2018']['sha256']} \\(recorded in .*lock.json"
    ):
        fetch_dataset(settings)
    assert leftovers(tmp_path) == []
    assert json.loads((tmp_path / "lock.json").read_text()) == lock, "a mismatch never rewrites the lock"


def test_a_download_that_breaks_off_is_resumed_where_it_stopped(tmp_path, loopback):
    loopback.files["sdnet"] = archive = sdnet_bundle()
    loopback.cut_after = 100
    summary = fetch_dataset(config(tmp_path, "sdnet2018", loopback.url("sdnet")))
    assert loopback.ranges == ["bytes=0-", "bytes=100-"]
    assert summary["downloaded_bytes"] == len(archive)
    assert summary["sha256"] == hashlib.sha256(archive).hexdigest()
    assert (tmp_path / "raw" / "sdnet2018" / "W" / "CW").is_dir()


def test_a_run_stopped_mid_download_is_resumed_by_the_next(tmp_path, loopback):
    loopback.files["sdnet"] = archive = sdnet_bundle()
    part = tmp_path / "raw" / ".downloads" / "DATA_Maguire_20180517_ALL.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(archive[:150])
    summary = fetch_dataset(config(tmp_path, "sdnet2018", loopback.url("sdnet")))
    assert loopback.ranges == ["bytes=150-"] and summary["downloaded_bytes"] == len(archive) - 150
    assert (tmp_path / "raw" / ".downloads" / "DATA_Maguire_20180517_ALL.zip").read_bytes() == archive


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
    assert fetch_dataset(settings)["downloaded_bytes"] == 0 and len(loopback.ranges) == requests
    assert files_below(folder) == sorted(SDNET)


def test_an_unknown_data_set_is_refused_with_the_known_ones():
    with pytest.raises(
        InputError, match=r"'imagenet' is not a known data set; known: cfd, ozgenel, sdnet2018"
    ):
        fetch_dataset(FetchConfig(dataset="imagenet"))


def test_a_web_page_instead_of_the_archive_says_how_to_fetch_it_by_hand(tmp_path, loopback):
    loopback.files["sdnet"] = b"<html>Checking your browser</html>"
    loopback.content_type = "text/html; charset=utf-8"
    with pytest.raises(
        InputError, match="a web page instead of the file .* save it as .*DATA_Maguire_20180517_ALL.zip"
    ):
        fetch_dataset(config(tmp_path, "sdnet2018", loopback.url("sdnet")))


@pytest.mark.parametrize(
    "archive",
    [
        zip_of({"Positive/1.jpg": b"x", "Negative/2.jpg": b"x", "../escaped.jpg": b"x"}),
        tar_of({"Positive/1.jpg": b"x", "/tmp/escaped.jpg": b"x"}),
        tar_of(
            {"Positive/1.jpg": b"x", "Negative/2.jpg": b"x"}, links={"Negative/3.jpg": "../../../escaped"}
        ),
        tar_of(
            {"Positive/1.jpg": b"x", "Negative/2.jpg": b"x"}, links={"Negative/3.jpg": "../Positive/1.jpg"}
        ),
        pytest.param(
            rar_of({"Positive/1.jpg": b"x", "../escaped.jpg": b"x"}),
            marks=pytest.mark.skipif(shutil.which(archives.RAR_TOOL) is None, reason="needs bsdtar"),
        ),
    ],
    ids=["zip-dotdot", "tar-absolute", "tar-link-out", "tar-link-in", "rar-dotdot"],
)
def test_a_member_that_could_land_outside_is_refused_and_nothing_is_left(
    tmp_path, loopback, monkeypatch, archive
):
    loopback.files["evil"] = archive
    with_publisher_sha256(monkeypatch, "ozgenel", archive)
    with pytest.raises(InputError, match="outside|is a link"):
        fetch_dataset(config(tmp_path, "ozgenel", loopback.url("evil")))
    assert leftovers(tmp_path) == []
    assert not (tmp_path / "escaped.jpg").exists() and not Path("/tmp/escaped.jpg").exists()


@pytest.mark.skipif(
    shutil.which(archives.RAR_TOOL) is None, reason=f"needs {archives.RAR_TOOL} (libarchive-tools)"
)
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
    assert (tmp_path / "raw" / ".downloads" / "Concrete Crack Images for Classification.rar").exists()
