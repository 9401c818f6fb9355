"""The public data sets in one command: download (resuming a broken one), verify, unpack into
`<raw_dir>/<name>`. The only code of the project that touches the network.

Each download is checked against a SHA-256: the publisher's where one is published, else the one recorded in
a lock file at the first download, which every later download must match. The archive stays in a download
cache (`<raw_dir>/.downloads/`), so a data set removed by hand is unpacked again without the network.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from crack_pipeline.vision.data.archives import Layout, cfd_layout, ozgenel_layout, sdnet_layout, unpack_as
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.settings import settings_dataclass

DOWNLOADS = ".downloads"  # the download cache, inside raw_dir
CHUNK = 1 << 20
ATTEMPTS = 3  # requests per download: a connection that breaks off is resumed where it stopped
TIMEOUT = 60  # seconds without a byte before a request counts as broken off
USER_AGENT = "crack_pipeline-fetch/1 (Python urllib)"


@dataclass(frozen=True)
class PublicDataset:
    title: str  # the citation
    landing_page: str
    license: str
    url: str  # the publisher's file
    file_name: str  # its name in the download cache
    sha256: str | None  # the publisher's, where one is published
    layout: Layout  # unpacked archive -> the folder ingest (or mask_tiles) reads
    next_command: str  # what to run next, `{folder}` being where the data set landed


PUBLIC_DATASETS = {
    "ozgenel": PublicDataset(
        title="Özgenel, Ç.F. (2019) Concrete Crack Images for Classification, Mendeley Data v2, "
        "doi:10.17632/5y9wdsg2zt.2",
        landing_page="https://data.mendeley.com/datasets/5y9wdsg2zt/2",
        license="CC BY 4.0",
        url="https://data.mendeley.com/public-files/datasets/5y9wdsg2zt/files/"
        "8a70d8a5-bce9-4291-bab9-b48cfb3e87c3/file_downloaded",
        file_name="Concrete Crack Images for Classification.rar",
        # Mendeley's file record (241,363,336 bytes), as two public projects that fetched it quote it.
        sha256="08d7dc505a4f5a0330cee2fa2a1ae4b5b4f98bcffd0549b774caf7959bb1f02f",
        layout=ozgenel_layout,
        next_command="kedro run --pipelines=from_folder --params=data.source_dir={folder}",
    ),
    "sdnet2018": PublicDataset(
        title="Maguire, M., Dorafshan, S. & Thomas, R.J. (2018) SDNET2018: A concrete crack image dataset "
        "for machine learning applications, Utah State University, doi:10.15142/T3TD19",
        landing_page="https://digitalcommons.usu.edu/all_datasets/48/",
        license="CC BY 4.0",
        url="https://digitalcommons.usu.edu/context/all_datasets/article/1047/type/native/viewcontent",
        file_name="DATA_Maguire_20180517_ALL.zip",
        sha256=None,  # the landing page gives an MD5 only
        layout=sdnet_layout,
        next_command="kedro run --pipelines=from_folder "
        "--params='data.source_dir={folder},ingest.group_pattern=^(\\d+)-'",
    ),
    "cfd": PublicDataset(
        title="Shi, Y., Cui, L., Qi, Z., Meng, F. & Chen, Z. (2016) Automatic road crack detection using "
        "random structured forests, IEEE T-ITS 17(12); Cui, L. et al. (2015), ICDS",
        landing_page="https://github.com/cuilimeng/CrackForest-dataset",
        license="non-commercial research use only (the repository's README)",
        # A fixed commit: a branch's archive changes with the branch.
        url="https://github.com/cuilimeng/CrackForest-dataset/archive/"
        "ed57c2d96754e6c7d105805cd29aeeb3a799f267.zip",
        file_name="CrackForest-dataset-ed57c2d.zip",
        sha256=None,  # GitHub makes the archive on request and publishes no checksum
        layout=cfd_layout,
        next_command="kedro run --pipelines=mask_tiles --params=mask_tiles.images_dir={folder}/images,"
        "mask_tiles.masks_dir={folder}/masks,mask_tiles.name=cfd",
    ),
}


@settings_dataclass
class FetchConfig:
    dataset: str | None = None  # one of PUBLIC_DATASETS
    url: str | None = None  # a mirror of the publisher's file: the same bytes, checked the same way
    raw_dir: str = "data/01_raw"
    lock_file: str = "conf/base/fetch.lock.json"


def public_dataset(name: str | None) -> PublicDataset:
    if name not in PUBLIC_DATASETS:
        raise InputError(
            f"fetch.dataset: {name!r} is not a known data set; known: {', '.join(sorted(PUBLIC_DATASETS))} "
            f"(kedro run --pipelines=fetch --params=fetch.dataset=NAME)"
        )
    return PUBLIC_DATASETS[name]


def fetch_dataset(config: FetchConfig) -> dict:
    """`config.dataset` in `<raw_dir>/<name>`, fetched and unpacked unless it is there already.

    Returns a summary: where it is, how many files, its archive's SHA-256 and where the expected one came
    from, how many bytes came over the network, and the next command to run.
    """
    dataset = public_dataset(config.dataset)
    raw_dir = Path(config.raw_dir)
    folder, archive = raw_dir / config.dataset, raw_dir / DOWNLOADS / dataset.file_name
    summary = {
        "dataset": config.dataset,
        "folder": str(folder),
        "license": dataset.license,
        "cite": dataset.title,
        "next_command": dataset.next_command.format(folder=folder),
    }
    if folder.exists():  # it was renamed into place whole: never fetched or overwritten again
        return summary | {"status": "already present", "downloaded_bytes": 0, "files": _count_files(folder)}

    url = config.url or dataset.url
    downloaded = 0 if archive.exists() else download(url, archive, dataset)
    lock_file = Path(config.lock_file)
    expected, checked_against = _expected_sha256(config.dataset, dataset, lock_file)
    actual = sha256_of(archive)
    if expected is not None and actual != expected:
        archive.unlink()
        raise InputError(
            f"{archive}: SHA-256 {actual}, expected {expected} ({checked_against}); the file was deleted and "
            f"nothing was unpacked. Fetch again; if the publisher changed the file on purpose, remove its "
            f"entry from {lock_file}"
        )
    unpack_as(archive, folder, dataset.layout)
    if expected is None:
        _record_sha256(lock_file, config.dataset, url, archive, actual)
        checked_against = f"recorded in {lock_file} at this first download: commit it"
    return summary | {
        "status": "fetched",
        "downloaded_bytes": downloaded,
        "files": _count_files(folder),
        "archive": str(archive),
        "sha256": actual,
        "checked_against": checked_against,
    }


def download(url: str, destination: Path, dataset: PublicDataset) -> int:
    """`url` into `destination` through `<destination>.part`, resuming where an earlier request or run
    broke off; the number of bytes transferred."""
    part = destination.with_name(destination.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    transferred = 0
    for _ in range(ATTEMPTS):
        complete, received = _continue(url, part, dataset)
        transferred += received
        if complete:
            part.replace(destination)
            return transferred
    raise InputError(
        f"{url}: the download broke off {ATTEMPTS} times; {part.stat().st_size} bytes are kept in {part}: "
        f"run the same command again to resume"
    )


def _continue(url: str, part: Path, dataset: PublicDataset) -> tuple[bool, int]:
    """One request for the rest of `url` after the bytes already in `part`: (whole file there, bytes)."""
    offset = part.stat().st_size if part.exists() else 0
    # A range request even from byte 0: a server without ranges answers 200 with the whole file, and the
    # CDN in front of one publisher was reported to refuse a plain GET but serve a range.
    headers = {"Range": f"bytes={offset}-", "User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    try:
        response = urlopen(Request(url, headers=headers), timeout=TIMEOUT)
    except HTTPError as error:
        if error.code == 416 and offset:  # the part is no prefix of this file: start again
            part.unlink()
            return False, 0
        raise _unreachable(url, part, dataset, f"HTTP {error.code} {error.reason}") from None
    except (URLError, OSError) as error:
        raise _unreachable(url, part, dataset, str(getattr(error, "reason", error))) from None
    with response:
        if response.headers.get_content_type() == "text/html":
            raise _unreachable(
                url, part, dataset, "a web page instead of the file (a sign-in or robot check?)"
            )
        resumed = response.status == 206
        if resumed and _range_start(response.headers.get("Content-Range", "")) != offset:
            raise InputError(
                f"{url}: asked for the bytes from {offset}, the server sent others; delete {part}"
            )
        length = int(response.headers.get("Content-Length", -1))  # of this response: the rest
        received = 0
        with part.open("ab" if resumed else "wb") as out:
            try:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    received += len(chunk)
            except (http.client.IncompleteRead, ConnectionError, TimeoutError):
                return False, received
    return length < 0 or received >= length, received


def _range_start(content_range: str) -> int | None:
    match = re.match(r"bytes (\d+)-", content_range)
    return int(match.group(1)) if match else None


def _unreachable(url: str, part: Path, dataset: PublicDataset, problem: str) -> InputError:
    archive = part.with_name(part.name.removesuffix(".part"))
    return InputError(
        f"{url}: {problem}. Download the file in a browser from {dataset.landing_page} and save it as "
        f"{archive}, or give a mirror as fetch.url; then run the same command again"
    )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _expected_sha256(name: str, dataset: PublicDataset, lock_file: Path) -> tuple[str | None, str]:
    if dataset.sha256 is not None:
        return dataset.sha256, "the publisher's"
    entry = _read_lock(lock_file).get(name)
    if entry is None:
        return None, "none yet"
    return entry["sha256"], f"recorded in {lock_file} on {entry.get('recorded', '?')}"


def _read_lock(lock_file: Path) -> dict:
    if not lock_file.exists():
        return {}
    try:
        return json.loads(lock_file.read_text())
    except json.JSONDecodeError as error:
        raise InputError(f"{lock_file}: not valid JSON ({error}); fix it or take it back from git") from None


def _record_sha256(lock_file: Path, name: str, url: str, archive: Path, sha256: str) -> None:
    lock = _read_lock(lock_file)
    lock[name] = {
        "url": url,
        "file": archive.name,
        "bytes": archive.stat().st_size,
        "sha256": sha256,
        "recorded": dt.date.today().isoformat(),
    }
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    written = lock_file.with_name(lock_file.name + ".tmp")
    written.write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")
    os.replace(written, lock_file)


def _count_files(folder: Path) -> int:
    return sum(1 for path in folder.rglob("*") if path.is_file())
