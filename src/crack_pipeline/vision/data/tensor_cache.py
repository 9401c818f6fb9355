"""Decode the images of a split once into uint8 tensors reused by every epoch and every model."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from crack_pipeline.vision.data.image_io import decoder_fingerprint
from crack_pipeline.vision.data.ingested import load_resized_chunk
from crack_pipeline.vision.data.labels import CLASS_NAMES
from crack_pipeline.vision.data.parallel import default_workers, parallel_map
from crack_pipeline.vision.data.sources import domain_of_key, image_files, image_keys
from crack_pipeline.vision.data.synthetic import SynthConfig, render_patches
from crack_pipeline.vision.errors import InputError

_CHUNK = 64  # images per task
# A content hash as ingest records it: anything else (empty, missing) is never looked up.
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass
class ImageTensors:
    """Images of one split at one size: uint8 N x 3 x S x S, labels int64 N (1 = crack), paths.

    `skipped` maps files that could not be decoded (changed on disk since ingest) to the reason; `sha256`
    holds each image's content as ingest recorded it, where known (else it is empty), and `decoder` the
    `decoder_fingerprint` that made the pixels: what a later build knows them by.
    """

    images: torch.Tensor
    labels: torch.Tensor
    paths: list[str]
    skipped: dict[str, str] = field(default_factory=dict)
    sha256: list[str] = field(default_factory=list)
    decoder: str = ""

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def domains(self) -> list[str]:
        """Each image's domain, from its key `<domain>/<path>`."""
        return [domain_of_key(key) for key in self.paths]

    def concat(self, other: ImageTensors) -> ImageTensors:
        """Both sets in one (a copy)."""
        return ImageTensors(
            images=torch.cat([self.images, other.images]),
            labels=torch.cat([self.labels, other.labels]),
            paths=self.paths + other.paths,
            skipped={**self.skipped, **other.skipped},
            sha256=self.sha256 + other.sha256 if self.sha256 and other.sha256 else [],
            decoder=self.decoder if self.decoder == other.decoder else "",
        )

    def stored(self) -> dict:
        """Its fields as `torch.save` keeps them (`ImageTensors(**fields)` makes it again); the images copied
        when they are a part of a larger storage (the rows of skipped images): torch saves a tensor's whole
        storage."""
        images = self.images
        return {
            **vars(self),
            "images": images.clone() if images.untyped_storage().nbytes() > images.nbytes else images,
        }

    def pictures(self, paths: Sequence[str]) -> dict[str, np.ndarray]:
        """The images of `paths` as H x W x 3 uint8 arrays (views), for figures."""
        row = {path: i for i, path in enumerate(self.paths)}
        return {path: self.images[row[path]].permute(1, 2, 0).numpy() for path in paths}

    def subset(self, paths: Sequence[str]) -> ImageTensors:
        """The decoded images among `paths` (a copy: the caller may drop the full set)."""
        wanted = set(paths)
        rows = [i for i, path in enumerate(self.paths) if path in wanted]
        index = torch.as_tensor(rows, dtype=torch.int64)
        return ImageTensors(
            images=self.images[index],
            labels=self.labels[index],
            paths=[self.paths[i] for i in rows],
            skipped={p: reason for p, reason in self.skipped.items() if p in wanted},
            sha256=[self.sha256[i] for i in rows] if self.sha256 else [],
            decoder=self.decoder,
        )


# An image's pixels at one size by its content: (the tensor that holds them, their row).
KnownPixels = Mapping[str, tuple[torch.Tensor, int]]


def pixels_by_content(tensors: Mapping[str, ImageTensors] | None, size: int) -> KnownPixels:
    """The images of `tensors` (an earlier build of the split) decoded at `size` by this decoder
    (`decoder_fingerprint`), by their SHA-256: the same content decodes to the same pixels, so a build may
    copy them instead of decoding them again."""
    known: dict[str, tuple[torch.Tensor, int]] = {}
    for part in (tensors or {}).values():
        if (
            part.images.shape[-1] == size
            and len(part.sha256) == len(part) == part.images.shape[0]
            and part.decoder == decoder_fingerprint()
        ):
            known.update(
                (sha256, (part.images, row))
                for row, sha256 in enumerate(part.sha256)
                if isinstance(sha256, str) and _SHA256.fullmatch(sha256)
            )
    return known


def build_tensors(
    files: Sequence[Path],
    names: Sequence[str],
    labels: Sequence[int],
    size: int,
    workers: int | None = None,
    sha256: Sequence[str] | None = None,
) -> ImageTensors:
    """Decode and resize `files` on all cores into one uint8 tensor; `names` (their paths relative to their
    folders) name them in `paths`.

    A file that no longer decodes, or whose content is no longer the `sha256` ingest recorded, is left out
    and listed in `skipped`, never a crash.
    """
    return _build_sets({"": (files, names, labels, sha256)}, size, workers)[""]


Listed = tuple[list[Path], list[str], list[int], list[str] | None]  # files, names, labels, SHA-256s


def _as_lists(files, names, labels, hashes) -> Listed:
    """The parts of a set as lists: indexed by position."""
    return list(files), list(names), list(labels), list(hashes) if hashes is not None else None


def _chunks(listed: Listed, size: int, known: KnownPixels, chunk: int = _CHUNK) -> list[tuple]:
    """`load_resized_chunk`'s tasks for a set, `chunk` images each, in order."""
    files, _, _, hashes = listed
    tasks = []
    for i in range(0, len(files), chunk):
        part = hashes[i : i + chunk] if hashes else None
        decode = [sha256 not in known for sha256 in part] if part and known else None
        tasks.append((files[i : i + chunk], size, part, decode))
    return tasks


def _assembled(
    listed: Listed, rows: range, loaded: Iterator[list], size: int, known: KnownPixels, chunk: int = _CHUNK
) -> ImageTensors:
    """The images `rows` of a set (from a multiple of `chunk`) straight into one tensor, from the next of
    `loaded` (`load_resized_chunk`'s results, in order) that cover them: the memory of the images once (a
    list of them, joined and copied, took three times as much)."""
    _, names, labels, hashes = listed
    images = torch.empty((len(rows), 3, size, size), dtype=torch.uint8)
    kept: list[int] = []
    skipped: dict[str, str] = {}
    for start in range(rows.start, rows.stop, chunk):
        for i, item in enumerate(next(loaded), start):
            if isinstance(item, str):
                skipped[names[i]] = item
                continue
            row = images[len(kept)]
            if item is None:  # as ingest validated it, and decoded before
                held, at = known[hashes[i]]
                row.numpy()[:] = held[at].numpy()  # numpy's copy: torch's copy_ of a row took 8 times as long
            else:
                row.numpy().reshape(-1)[:] = np.frombuffer(item, dtype=np.uint8)
            kept.append(i)
    return ImageTensors(
        images=images[: len(kept)],  # the skipped images' rows, at the end, left unused
        labels=torch.as_tensor([labels[i] for i in kept], dtype=torch.int64),
        paths=[names[i] for i in kept],
        skipped=skipped,
        sha256=[hashes[i] for i in kept] if hashes else [],
        decoder=decoder_fingerprint(),
    )


def _build_sets(
    sets: dict[str, tuple[Sequence[Path], Sequence[str], Sequence[int], Sequence[str] | None]],
    size: int,
    workers: int | None,
    known: KnownPixels | None = None,
) -> dict[str, ImageTensors]:
    """`build_tensors` of several sets over one pool of workers, each decoded straight into a tensor of its
    own. An image whose content `known` holds is only checked against its SHA-256, and its pixels copied."""
    listed = {key: _as_lists(*parts) for key, parts in sets.items()}
    known = known or {}
    tasks = [task for parts in listed.values() for task in _chunks(parts, size, known)]
    # The fork server, not fork: this runs inside a process whose torch thread pools may be live.
    with closing(parallel_map(load_resized_chunk, tasks, workers)) as loaded:  # its pool ends with it
        return {
            key: _assembled(parts, range(len(parts[0])), loaded, size, known) for key, parts in listed.items()
        }


def decode_listed_in_parts(
    images: pd.DataFrame, size: int, part: int, workers: int | None = None, names: Sequence[str] | None = None
) -> Iterator[ImageTensors]:
    """`decode_listed`, `part` images at a time (whole chunks of 64 when `part` is larger), in order, over
    one pool of workers that decodes no more than a few chunks ahead of the part being used: a table of any
    length in the memory of one part."""
    listed = _as_lists(*_listed(images, names))
    chunk = min(part, _CHUNK)
    part = -(-part // chunk) * chunk
    tasks = _chunks(listed, size, {}, chunk)
    with closing(parallel_map(load_resized_chunk, tasks, workers, ahead=2 * default_workers())) as loaded:
        for start in range(0, len(tasks) * chunk, part):
            rows = range(start, min(start + part, len(listed[0])))
            yield _assembled(listed, rows, loaded, size, {}, chunk)


def decode_listed(
    images: pd.DataFrame, size: int, workers: int | None = None, names: Sequence[str] | None = None
) -> ImageTensors:
    """`build_tensors` of the images a table lists: its columns `root` (the folder), `path` (relative to
    it), `domain` and `label` (a class name), as in the image index and the split manifest, and `sha256`
    where it records what ingest validated. Each image is named by its key, `<domain>/<path>`, unless
    `names` are given."""
    return _build_sets({"": _listed(images, names)}, size, workers)[""]


def decode_splits(
    manifest: pd.DataFrame, size: int, workers: int | None = None, known: KnownPixels | None = None
) -> dict[str, ImageTensors]:
    """`decode_listed` of each split of a split manifest, each into its own tensor, over one pool; the
    images `known` holds (`pixels_by_content`) are read only to check them, not decoded again."""
    return _build_sets(
        {split: _listed(rows) for split, rows in manifest.groupby("split")}, size, workers, known
    )


def _listed(images: pd.DataFrame, names: Sequence[str] | None = None) -> tuple:
    return (
        image_files(images),
        image_keys(images) if names is None else list(names),
        [CLASS_NAMES.index(label) for label in images.label],
        images.sha256 if "sha256" in images.columns else None,
    )


def check_matches(tensors: dict[str, ImageTensors], manifest: pd.DataFrame, size: int) -> None:
    """Raise when a stored tensor cache was built from another split than the one being trained on, or at
    another size than `size` (`train.image_size`)."""
    rebuild = "rebuild them alone with `kedro run --pipelines=train --nodes=build_split_tensors`"
    for split, rows in manifest.groupby("split"):
        paths = image_keys(rows)
        cached = tensors.get(split)
        expected = set(paths) - set(cached.skipped if cached is not None else {})
        if cached is None or set(cached.paths) != expected:
            raise InputError(
                f"the decoded images (split_tensors) do not match the current split manifest ({split!r} "
                f"differs): {rebuild}"
            )
        if cached.images.shape[-1] != size:
            raise InputError(
                f"the decoded images (split_tensors) are {cached.images.shape[-1]} px, train.image_size is "
                f"{size}: {rebuild}"
            )


def with_synthetic(images: ImageTensors, per_class: int, seed: int) -> ImageTensors:
    """`images` and `per_class` synthetic patches of each class, at the same size. Rendered from their own
    seeds (10,000 + `seed`), never the synthetic data set's (42 by default) and its test images."""
    if per_class <= 0:
        return images
    names, pixels, labels = render_patches(
        SynthConfig(count_per_class=per_class, seed=10_000 + seed), images.images.shape[-1]
    )
    return images.concat(ImageTensors(torch.from_numpy(pixels), torch.from_numpy(labels), names))
