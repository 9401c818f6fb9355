"""What the fetch tests share: a file server on loopback that can misbehave as real ones do, the archives it
serves (each data set's layout, built here: nothing in Python writes RAR), and settings pointing at it."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
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

from crack_pipeline.vision.data import archives, fetch
from crack_pipeline.vision.data.fetch import FetchConfig
from tests.conftest import image_bytes


@dataclasses.dataclass
class Loopback:
    """A file server on 127.0.0.1 that honours `Range: bytes=N-` and records every request's Range."""

    root: str
    files: dict[str, bytes] = dataclasses.field(default_factory=dict)
    ranges: list[str | None] = dataclasses.field(default_factory=list)
    cuts: list[int] = dataclasses.field(default_factory=list)  # the next responses stop after these bytes
    drops: int = 0  # the next requests get their connection closed before any reply
    ranges_ignored: bool = False  # a server without ranges: always 200 and the whole file
    chunked: bool = False  # bodies sent in chunks, without Content-Length
    content_type: str = "application/octet-stream"

    def url(self, name: str) -> str:
        return f"{self.root}/{name}"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        served: Loopback = self.server.loopback
        served.ranges.append(self.headers.get("Range"))
        if served.drops:
            served.drops -= 1
            self.close_connection = True
            return
        body = served.files.get(self.path.lstrip("/"))
        if body is None:
            self.send_error(404)
            return
        asked = (
            None if served.ranges_ignored else re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        )
        start = int(asked.group(1)) if asked else 0
        if start >= len(body) > 0:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206 if asked else 200)
        if asked:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Type", served.content_type)
        payload = body[start:]
        self.send_header(
            *(("Transfer-Encoding", "chunked") if served.chunked else ("Content-Length", str(len(payload))))
        )
        self.end_headers()
        cut = served.cuts.pop(0) if served.cuts else None
        if cut is not None:
            payload = payload[:cut]
            self.close_connection = True
        if served.chunked:  # a cut one ends without the last, empty chunk
            payload = b"%x\r\n%s\r\n%s" % (len(payload), payload, b"" if cut is not None else b"0\r\n\r\n")
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
    """A RAR 4 archive whose files are stored (no compression)."""

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
SDNET_FILE = "DATA_Maguire_20180517_ALL.zip"  # its name in the download cache
OZGENEL_FILE = "Concrete Crack Images for Classification.rar"


def sdnet_bundle(inner: bytes | None = None) -> bytes:
    """The publisher's bundle: a README beside the data set zipped once more (or beside `inner`)."""
    inner = zip_of(SDNET) if inner is None else inner
    return zip_of({"DATA_Maguire_20180517_ALL/README.txt": b"SDNET2018", "SDNET2018.zip": inner})


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


def config(tmp_path: Path, dataset: str, url: str, **settings) -> FetchConfig:
    return FetchConfig(
        dataset=dataset,
        url=url,
        raw_dir=str(tmp_path / "raw"),
        lock_file=str(tmp_path / "lock.json"),
        **settings,
    )


def downloads(tmp_path: Path) -> Path:
    return tmp_path / "raw" / fetch.DOWNLOADS


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def with_publisher_sha256(monkeypatch, name: str, content: bytes) -> None:
    known = fetch.PUBLIC_DATASETS[name]
    monkeypatch.setitem(fetch.PUBLIC_DATASETS, name, dataclasses.replace(known, sha256=sha256(content)))


def files_below(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def leftovers(tmp_path: Path) -> list[str]:
    """Anything a failed unpacking could have left in the raw folder."""
    return sorted(p.name for p in (tmp_path / "raw").iterdir() if p.name != fetch.DOWNLOADS)
