"""The public data sets in one command: where each comes from, and its fetch — download (resuming a broken
one), verify, unpack into `<raw_dir>/<name>`.

Each archive is checked against a SHA-256: `fetch.sha256` where one is given, else the publisher's where one
is published, else the one recorded in the lock file at the first download (after it unpacked), which every
later download must match. An archive that no SHA-256 vouched for and that does not unpack is deleted, so the
next run downloads it again instead of failing on it for ever. The archive stays in a download cache
(`<raw_dir>/.downloads/`), so a data set removed by hand is unpacked again without the network.

One fetch of a data set at a time: a fetch holds an exclusive lock on `.downloads/<file>.lock`, and a second
one stops at once saying so, rather than wait unseen behind a download of several minutes.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from crack_pipeline.vision.data.archives import (
    Layout,
    cfd_layout,
    ozgenel_layout,
    remove_unfinished_unpacking,
    sdnet_layout,
    unpack_as,
)
from crack_pipeline.vision.data.checksums import SHA256, read_lock, record_sha256, sha256_of
from crack_pipeline.vision.data.download import download
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.settings import settings_dataclass

DOWNLOADS = ".downloads"  # the download cache, inside raw_dir


@dataclass(frozen=True)
class PublicDataset:
    title: str  # the citation
    landing_page: str
    license: str
    url: str  # the publisher's file
    file_name: str  # its name in the download cache
    in_browser: str  # which file to save, for someone who downloads it by hand
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
        in_browser="the file `Concrete Crack Images for Classification.rar` itself (its own download "
        'button, not "Download All", which wraps it in a zip)',
        # Mendeley's file record (241,363,336 bytes), as two public projects that fetched it quote it; the
        # bytes could not be fetched where this was written. If it proves wrong, fetch.sha256 overrides it.
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
        in_browser="the whole bundle (`DATA_Maguire_20180517_ALL.zip`, with its README)",
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
        in_browser="the repository's zip at commit ed57c2d (the download URL in the README)",
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
    # The SHA-256 the archive must have, in place of the publisher's or the lock file's, for this run: a
    # mirror's copy or a corrected record that you have checked. The lock file is left as it is.
    sha256: str | None = None
    raw_dir: str = "data/01_raw"
    lock_file: str = "conf/base/fetch.lock.json"

    def __post_init__(self):
        if self.sha256 is not None and not SHA256.fullmatch(self.sha256):
            raise ValueError(
                f"fetch.sha256 is 64 hex digits in lower case, as sha256sum prints them; got {self.sha256!r}"
            )


@dataclass(frozen=True)
class ExpectedSha256:
    sha256: str
    source: str  # where it came from
    if_different: str  # what to do when an archive does not match it


def public_dataset(name: str | None) -> PublicDataset:
    if name not in PUBLIC_DATASETS:
        problem = "is not set" if name is None else f"{name!r} is not a known data set"
        raise InputError(
            f"fetch.dataset: {problem}; known: {', '.join(sorted(PUBLIC_DATASETS))} "
            f"(kedro run --pipelines=fetch --params=fetch.dataset=NAME)"
        )
    return PUBLIC_DATASETS[name]


def fetch_dataset(config: FetchConfig) -> dict:
    """`config.dataset` in `<raw_dir>/<name>`, fetched and unpacked unless it is there already.

    Returns a summary: where it is, how many files, its archive's SHA-256 and what it was checked against
    (or where it was recorded), how many bytes came over the network, and the next command to run.
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
        return summary | _already_present(folder)
    with _sole_fetch(config.dataset, archive):
        if folder.exists():  # the fetch that held the lock a moment ago put it there
            return summary | _already_present(folder)
        return summary | _fetch(config, dataset, folder, archive)


def _already_present(folder: Path) -> dict:
    return {"status": "already present", "downloaded_bytes": 0, "files": _count_files(folder)}


@contextmanager
def _sole_fetch(name: str, archive: Path) -> Iterator[None]:
    """An exclusive lock on `<archive>.lock` while `name` is fetched: two runs never write one .part nor
    unpack into one folder. The file stays: deleting it could let a third run lock another file."""
    lock = archive.with_name(archive.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as held:  # closing it releases the lock, also when the run is killed
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(
                f"another fetch of {name} is running (it holds {lock}); let it finish, then run the same "
                f"command again"
            ) from None
        yield


def _fetch(config: FetchConfig, dataset: PublicDataset, folder: Path, archive: Path) -> dict:
    """Download (unless the cache has it), check, unpack and, at a first download, record: under the lock."""
    lock_file = Path(config.lock_file)
    # Read before anything is downloaded: a broken lock file stops the run now, not after 500 MB.
    expected = _expected_sha256(config, dataset, read_lock(lock_file).get(config.dataset), lock_file)
    remove_unfinished_unpacking(folder)  # a killed run's; none is running while this one holds the lock
    url = config.url or dataset.url
    downloaded = 0 if archive.exists() else download(url, archive, _by_hand(dataset, archive))
    actual = sha256_of(archive)
    if expected is not None and actual != expected.sha256:
        archive.unlink()
        raise InputError(
            f"{archive}: SHA-256 {actual}, expected {expected.sha256} ({expected.source}); the file was "
            f"deleted and nothing was unpacked. {expected.if_different}"
        )
    _unpack(archive, folder, dataset, verified=expected is not None)
    if expected is None:  # only now: the lock vouches for no archive that failed to unpack
        record_sha256(lock_file, config.dataset, url, archive, actual)
        check = f"recorded in {lock_file} (first download; later fetches must match)"
    else:
        check = f"matches {expected.source}"
    return {
        "status": "fetched",
        "downloaded_bytes": downloaded,
        "files": _count_files(folder),
        "archive": str(archive),
        "sha256": actual,
        "sha256_check": check,
    }


def _unpack(archive: Path, folder: Path, dataset: PublicDataset, verified: bool) -> None:
    try:
        unpack_as(archive, folder, dataset.layout)
    except InputError as error:
        if verified:  # the very bytes a SHA-256 vouches for: downloading them again would change nothing
            raise
        # Kept, it would be unpacked again, and fail the same way, by every later run.
        archive.unlink()
        raise InputError(
            f"{error}. No SHA-256 vouched for this download, so it was deleted and the next run downloads "
            f"it again; if that fails the same way, {_by_hand(dataset, archive)}"
        ) from None


def _expected_sha256(
    config: FetchConfig, dataset: PublicDataset, entry: dict | None, lock_file: Path
) -> ExpectedSha256 | None:
    """The SHA-256 the archive must have (`entry`: the data set's in the lock file), where it came from,
    and what to do if the archive has another; None at the first download of a data set without one."""
    damaged = (
        f"If the download was damaged on the way, run the same command again; a file saved by hand must be "
        f"{dataset.in_browser}."
    )
    if config.sha256 is not None:
        return ExpectedSha256(
            config.sha256,
            "fetch.sha256",
            "Check the value given as fetch.sha256 (sha256sum prints a file's); without it, the archive "
            "is checked against the publisher's SHA-256 or the lock file's.",
        )
    if dataset.sha256 is not None:
        return ExpectedSha256(
            dataset.sha256,
            "the publisher's",
            f"{damaged} If you have checked that these bytes are right (the publisher corrected its file, "
            f"or a mirror's copy), give their SHA-256 with the same command: "
            f"--params=fetch.dataset={config.dataset}{_url_param(config)},fetch.sha256=<64 hex digits>",
        )
    if entry is not None:
        return ExpectedSha256(
            entry["sha256"],
            f"the one recorded in {lock_file} on {entry.get('recorded', '?')}",
            f"{damaged} If the publisher replaced its file on purpose, remove the {config.dataset!r} entry "
            f"from {lock_file} (the next fetch records the new file's: commit it), or give the new SHA-256 "
            f"for one run as fetch.sha256",
        )
    return None


def _url_param(config: FetchConfig) -> str:
    """`,fetch.url=<it>` where the run was given a mirror: the command it is told to run again keeps it."""
    return f",fetch.url={config.url}" if config.url else ""


def _by_hand(dataset: PublicDataset, archive: Path) -> str:
    return (
        f"download {dataset.in_browser} in a browser from {dataset.landing_page}, save it as {archive} and "
        f"run the same command again (or give a mirror as fetch.url)"
    )


def _count_files(folder: Path) -> int:
    return sum(1 for path in folder.rglob("*") if path.is_file())
