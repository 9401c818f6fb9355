"""Decoding a split for training: a file changed or broken since ingest validated it is left out, named."""

import errno
import fcntl
import logging
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from kedro.io.core import DatasetError
from PIL import Image

from crack_pipeline import cli
from crack_pipeline.datasets import TorchCheckpointDataset
from crack_pipeline.datasets.tensor_cache import PreviousTensorCacheDataset, TensorCacheDataset
from crack_pipeline.pipelines.ingest.nodes import plot_sample_grid, scan_images
from crack_pipeline.pipelines.train.nodes import build_split_tensors
from crack_pipeline.vision.data import image_io, ingested
from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.labels import DEFAULT_ALIASES
from crack_pipeline.vision.data.sources import Source, scan_sources
from crack_pipeline.vision.data.tensor_cache import ImageTensors, check_matches, decode_listed, decode_splits
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.models import torch_files
from crack_pipeline.vision.models.torch_files import save_atomically
from tests.conftest import image_bytes, write


def test_a_file_changed_or_broken_since_ingest_is_left_out_and_named(tmp_path):
    for i in range(3):
        write(tmp_path, f"Positive/p{i}.png", image_bytes(seed=i))
        write(tmp_path, f"Negative/n{i}.png", image_bytes(seed=10 + i))
    index = scan_sources([Source("site", Folder.scan(tmp_path))], DEFAULT_ALIASES, workers=1).index
    # After ingest: a clean photo replaced by a crack photo (its label no longer holds), another truncated.
    (tmp_path / "Negative/n0.png").write_bytes(image_bytes(seed=99))
    (tmp_path / "Negative/n1.png").write_bytes(image_bytes(seed=11)[:100])
    decoded = decode_listed(index, 32, workers=1)
    assert sorted(decoded.skipped) == ["site/Negative/n0.png", "site/Negative/n1.png"]
    assert decoded.skipped["site/Negative/n0.png"].startswith("changed since ingest validated it")
    assert len(decoded.paths) == 4 and decoded.images.shape == (4, 3, 32, 32)


def test_images_the_limits_set_let_in_are_decoded_and_drawn_not_skipped(tmp_path):
    # 24-px patches with ingest.min_side lowered to 16: ingest keeps them; training, evaluation and the sample
    # grid once decoded them again under the default 32 px ("no longer read as ingest validated them"; the
    # grid stopped the ingest run).
    for i in range(2):
        write(tmp_path, f"Positive/p{i}.png", image_bytes((24, 24), seed=i))
        write(tmp_path, f"Negative/n{i}.png", image_bytes((24, 24), seed=10 + i))
    ingest = {"label_aliases": DEFAULT_ALIASES, "min_side": 16, "max_pixels": 64_000_000, "workers": 1}
    index, _ = scan_images(Folder.scan(tmp_path), ingest, {})
    assert (index.status == "ok").all()
    decoded = decode_listed(index, 32, workers=1)
    assert decoded.skipped == {} and len(decoded) == 4
    plot_sample_grid(index, ingest)  # raised ImageRejected (too_small)


def test_a_cache_of_another_split_says_how_to_rebuild_it_alone(tmp_path):
    for i in range(2):
        write(tmp_path, f"Positive/p{i}.png", image_bytes(seed=i))
    index = scan_sources([Source("site", Folder.scan(tmp_path))], DEFAULT_ALIASES, workers=1).index
    manifest = index.assign(split=["train", "test"])
    cached = decode_listed(index, 32, workers=1)
    with pytest.raises(InputError) as caught:
        check_matches({"train": cached, "test": cached}, manifest, 32)
    # `--pipelines=train` alone trains every variant of train.models: hours, to rebuild a cache
    assert str(caught.value).endswith(
        "rebuild them alone with `kedro run --pipelines=train --nodes=build_split_tensors`"
    )


def test_a_cache_at_another_size_than_train_image_size_is_refused():
    """A run of one variant reads the cache from disk: `train.image_size` changed since trained at the old."""
    images = torch.zeros((1, 3, 32, 32), dtype=torch.uint8)
    cached = ImageTensors(images, torch.tensor([1]), ["site/Positive/p0.png"])
    manifest = pd.DataFrame({"domain": ["site"], "path": ["Positive/p0.png"], "split": ["train"]})
    check_matches({"train": cached}, manifest, 32)
    with pytest.raises(InputError, match=r"are 32 px, train.image_size is 64: rebuild them alone"):
        check_matches({"train": cached}, manifest, 64)


def split_folder(root, count=4):
    for i in range(count):
        write(root, f"Positive/p{i}.png", image_bytes(seed=i))
        write(root, f"Negative/n{i}.png", image_bytes(seed=10 + i))
    index = scan_sources([Source("site", Folder.scan(root))], DEFAULT_ALIASES, workers=1).index
    return index.assign(split=(["train", "val", "test", "train"] * count)[: len(index)])


def test_each_split_is_decoded_into_a_tensor_of_its_own_as_listed(tmp_path):
    manifest = split_folder(tmp_path)
    decoded = decode_splits(manifest, 24, workers=2)
    assert sorted(decoded) == ["test", "train", "val"]
    for split, rows in manifest.groupby("split"):
        alone = decode_listed(rows, 24, workers=1)
        assert decoded[split].paths == alone.paths and torch.equal(decoded[split].images, alone.images)
        assert torch.equal(decoded[split].labels, alone.labels)
        first = Image.open(tmp_path / rows.path.iloc[0]).convert("RGB").resize((24, 24), Image.BILINEAR)
        assert (
            np.abs(decoded[split].images[0].permute(1, 2, 0).numpy().astype(int) - np.asarray(first)).max()
            <= 40
        )


def test_images_gone_since_ingest_are_summed_up_and_a_folder_gone_stops_the_run(tmp_path, caplog):
    manifest = split_folder(tmp_path / "site")
    (tmp_path / "site/Positive/p1.png").unlink()
    with caplog.at_level(logging.DEBUG, logger="crack_pipeline"):
        tensors = build_split_tensors(manifest, {"image_size": 24, "workers": 1})
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == [
        "train: skipped 1 of the split's 8 images no longer read as ingest validated them "
        "(1 FileNotFoundError; e.g. site/Positive/p1.png: FileNotFoundError: [Errno 2] No such file or "
        "directory: "
        f"'{tmp_path / 'site/Positive/p1.png'}')"
    ]
    assert sum(len(part) for part in tensors.values()) == 7
    for part in tensors.values():  # each image still under its own name after the skip
        for key, image in zip(part.paths, part.images, strict=True):
            row = manifest[(manifest.domain + "/" + manifest.path) == key]
            assert torch.equal(image, decode_listed(row, 24, workers=1).images[0])
    shutil.move(tmp_path / "site", tmp_path / "moved")
    caplog.clear()
    with pytest.raises(
        InputError, match=rf"8 of the split's 8 images .*: are the folders still there \({tmp_path}/site\)"
    ):
        build_split_tensors(manifest, {"image_size": 24, "workers": 1})
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], (
        "one error, not a warning per image"
    )
    shutil.move(tmp_path / "moved", tmp_path / "site")
    for path in manifest[manifest.split == "val"].path:  # one split's images only: nothing to stop early on
        (tmp_path / "site" / path).unlink(missing_ok=True)
    with pytest.raises(InputError, match=r"FileNotFoundError; e\.g\. .*, none of val: are the folders still"):
        build_split_tensors(manifest, {"image_size": 24, "workers": 1})


def test_a_save_removes_what_a_killed_writer_left_and_the_cache_needs_its_size_once(tmp_path, monkeypatch):
    target = tmp_path / "split_tensors.pt"
    killed = tmp_path / ".split_tensors.pt.k1"  # left by a save killed midway: gigabytes, held by nobody
    writing = tmp_path / ".split_tensors.pt.w2"  # a save at work (here, or in another process or machine)
    killed.write_bytes(b"half"), writing.write_bytes(b"half")
    writer = os.open(writing, os.O_RDONLY)
    fcntl.flock(writer, fcntl.LOCK_EX)
    try:
        save_atomically({"a": torch.ones(2)}, target)
    finally:
        os.close(writer)
    assert not killed.exists() and writing.exists()
    assert torch.equal(torch.load(target, weights_only=True)["a"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".split")] == [writing.name]

    cache = TensorCacheDataset(filepath=str(target))
    save = torch_files.torch.save

    def the_old_cache_gone_while_the_new_is_written(data, path):
        assert not target.exists(), "the old cache is removed before the new one is written"
        save(data, path)

    monkeypatch.setattr(torch_files.torch, "save", the_old_cache_gone_while_the_new_is_written)
    tensors = ImageTensors(torch.zeros((1, 3, 8, 8), dtype=torch.uint8), torch.tensor([1]), ["a/b.png"])
    cache.save({"train": tensors})
    assert cache.load()["train"].paths == ["a/b.png"]


def test_a_save_goes_on_where_files_cannot_be_locked_or_another_save_took_its_name(tmp_path, monkeypatch):
    target = tmp_path / "state.pt"

    def no_locks(*args):
        raise OSError(errno.ENOLCK, "No locks available")  # NFS without its lock daemon, some FUSE mounts

    with monkeypatch.context() as patched:
        patched.setattr(torch_files.fcntl, "flock", no_locks)
        (tmp_path / ".state.pt.left").write_bytes(b"half")
        save_atomically({"a": torch.ones(1)}, target)
    assert (tmp_path / ".state.pt.left").exists(), "with no locks, nothing can be told abandoned: kept"
    made = tempfile.mkstemp

    def cleaned_up_before_locked(**kwargs):  # another save's clean-up, between this one's mkstemp and flock
        handle, name = made(**kwargs)
        if not (tmp_path / "raced").exists():
            (tmp_path / "raced").touch()
            torch_files._remove_if_abandoned(Path(name))
        return handle, name

    monkeypatch.setattr(torch_files.tempfile, "mkstemp", cleaned_up_before_locked)
    save_atomically({"a": torch.full((1,), 2.0)}, target)
    assert torch.load(target, weights_only=True)["a"].item() == 2.0
    assert not [
        p for p in tmp_path.iterdir() if p.name.startswith(".state.pt.") and p.name != ".state.pt.left"
    ]


def test_a_cache_of_a_split_with_skipped_images_stores_only_the_kept_ones(tmp_path, caplog):
    manifest = split_folder(tmp_path / "site", count=8)
    for path in manifest.path[:6]:
        (tmp_path / "site" / path).write_bytes(b"broken")
    with caplog.at_level(logging.INFO, logger="crack_pipeline"):
        tensors = build_split_tensors(manifest, {"image_size": 64, "workers": 1})
    sizes = ", ".join(f"{split} {len(part)}" for split, part in tensors.items())
    # in words: the log said "train: {'test': 2, 'train': 6, 'val': 2} images at 64 px ..."
    assert f"train: {sizes} images at 64 px in " in caplog.text and "{" not in caplog.text
    cache = TensorCacheDataset(filepath=str(tmp_path / "split_tensors.pt"))
    cache.save(tensors)
    kept = sum(part.images.nbytes for part in tensors.values())
    assert (tmp_path / "split_tensors.pt").stat().st_size < kept + 64 * 64 * 3, "no row of a skipped image"
    for split, part in cache.load().items():
        assert torch.equal(part.images, tensors[split].images)


def test_a_build_decodes_only_the_images_the_last_build_did_not_and_still_checks_the_others(
    tmp_path, monkeypatch
):
    site = tmp_path / "site"
    first = build_split_tensors(split_folder(site), {"image_size": 24, "workers": 1})
    TensorCacheDataset(filepath=str(tmp_path / "split_tensors.pt")).save(first)
    previous = PreviousTensorCacheDataset(filepath=str(tmp_path / "split_tensors.pt")).load()
    for i in range(2):  # new photos, and a re-split that moves the others between splits
        write(site, f"Positive/new{i}.png", image_bytes(seed=50 + i))
    manifest = split_folder(site).sort_values("path")
    manifest = manifest.assign(split=(["test", "train", "train", "val"] * 3)[: len(manifest)])
    (site / "Negative/n3.png").write_bytes(image_bytes(seed=77))  # known, but changed since ingest
    decoded = []
    decode = ingested.decode_image
    monkeypatch.setattr(
        ingested, "decode_image", lambda data, *limits: decoded.append(1) or decode(data, *limits)
    )

    tensors = build_split_tensors(manifest, {"image_size": 24, "workers": 1}, previous)
    assert len(decoded) == 2, "only the new photos are decoded"
    assert [key for part in tensors.values() for key in part.skipped] == ["site/Negative/n3.png"]
    monkeypatch.setattr(ingested, "decode_image", decode)
    fresh = decode_splits(manifest, 24, workers=1)
    for split, part in tensors.items():
        assert part.paths == fresh[split].paths and torch.equal(part.images, fresh[split].images)
        assert part.sha256 == list(
            manifest.set_index(manifest.domain + "/" + manifest.path).sha256[part.paths]
        )

    for other in ({"image_size": 32}, {"recipe": 2}, {"sha256": ""}):
        decoded.clear()
        monkeypatch.setattr(image_io, "_DECODE_RECIPE", other.get("recipe", 1))
        rows = manifest.assign(sha256=other["sha256"]) if "sha256" in other else manifest
        monkeypatch.setattr(
            ingested, "decode_image", lambda data, *limits: decoded.append(1) or decode(data, *limits)
        )
        build_split_tensors(rows, {"image_size": other.get("image_size", 24), "workers": 1}, previous)
        readable = len(manifest) - ("sha256" not in other)  # without a hash, a changed file is not told
        assert len(decoded) == readable, f"{other}: every readable image is decoded"


def test_the_previous_cache_is_let_go_before_the_new_one_replaces_it_and_a_broken_one_is_passed_over(
    tmp_path, caplog
):
    manifest = split_folder(tmp_path / "site")
    path = tmp_path / "split_tensors.pt"
    previous = PreviousTensorCacheDataset(filepath=str(path))
    assert previous.load()() is None, "none yet: every image is decoded"
    cache = TensorCacheDataset(filepath=str(path))
    cache.save(build_split_tensors(manifest, {"image_size": 24, "workers": 1}))
    held = previous.load()()
    assert str(path) in Path("/proc/self/maps").read_text(), "mapped while held"
    del held
    tensors = build_split_tensors(manifest, {"image_size": 24, "workers": 2}, previous.load())
    assert str(path) not in Path("/proc/self/maps").read_text(), "the old file is unmapped: on disk once"
    cache.save(tensors)
    with pytest.raises(DatasetError, match="read only"):
        previous.save(tensors)
    whole = path.read_bytes()
    with zipfile.ZipFile(path) as archive:  # the first image's pixels, which torch.load takes as they are
        pixels = next(i for i in archive.infolist() if i.file_size == tensors["test"].images.nbytes)
    start = pixels.header_offset + 30 + len(pixels.filename) + len(pixels.extra)
    path.write_bytes(whole[:start] + bytes(100) + whole[start + 100 :])
    for damaged in (path.read_bytes(), whole[:500]):
        path.write_bytes(damaged)
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert previous.load()() is None
        assert f"tensor cache {path} is damaged" in caplog.text


def test_a_full_disk_is_said_with_the_file_keeps_the_old_one_and_ends_the_run_in_one_line(
    tmp_path, monkeypatch
):
    target = tmp_path / "checkpoint.pt"
    save_atomically({"a": torch.ones(2)}, target)
    opened = os.fdopen

    def disk_full_after_a_kilobyte(handle, *args, **kwargs):
        file = opened(handle, *args, **kwargs)
        write, written = file.write, []

        def write_until_full(data):
            written.append(len(data))
            if sum(written) > 1024:
                raise OSError(errno.ENOSPC, "No space left on device")
            return write(data)

        file.write = write_until_full
        return file

    monkeypatch.setattr(torch_files.os, "fdopen", disk_full_after_a_kilobyte)
    with pytest.raises(OSError) as caught:  # torch's own: "[enforce fail ...] unexpected pos 1088 vs 982"
        save_atomically({"a": torch.zeros(10_000)}, target)
    assert caught.value.errno == errno.ENOSPC and str(caught.value) == (
        f"[Errno 28] No space left on device (writing it): '{target}'"
    )
    with pytest.raises(DatasetError) as saved:  # through the catalog: Kedro wraps it in a DatasetError
        TorchCheckpointDataset(filepath=str(target)).save({"a": torch.zeros(10_000)})
    full = cli.user_error(saved.value)
    assert isinstance(full, OSError) and str(full) == str(caught.value), "the disk's error, in one line"
    assert cli.user_error(RuntimeError("a bug")) is None
    assert torch.equal(torch.load(target, weights_only=True)["a"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]
