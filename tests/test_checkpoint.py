"""Self-describing checkpoints and the versioned Kedro dataset that stores them."""

import fcntl
import os
import stat
import zipfile
from pathlib import Path

import pytest
import torch
from kedro.io.core import DatasetError, Version

from crack_pipeline.datasets import TorchCheckpointDataset
from crack_pipeline.run_guard import RunInterrupted
from crack_pipeline.vision.models.checkpoint import CheckpointError, make_checkpoint, model_from_checkpoint
from crack_pipeline.vision.models.registry import create_model

DETAILS = dict(
    train_config={"epochs": 1, "lr": 0.001, "augment": {"hflip": True}},
    data_fingerprint="d" * 64,
    split_fingerprint="s" * 64,
    git_commit="abc123",
    best_epoch=1,
    best_metrics={"val_loss": 0.5, "val_accuracy": 0.8},
)


def checkpoint_of(model, architecture="small_cnn"):
    return make_checkpoint(model, variant="v1", architecture=architecture, input_size=96, **DETAILS)


def test_round_trip_rebuilds_the_same_model(tmp_path):
    torch.manual_seed(0)
    model = create_model("squeezenet1_1").to(memory_format=torch.channels_last).eval()
    dataset = TorchCheckpointDataset(filepath=str(tmp_path / "checkpoint.pt"))
    dataset.save(checkpoint_of(model, "squeezenet1_1"))
    loaded = dataset.load()
    assert loaded["class_names"] == ["no_crack", "crack"] and loaded["input_size"] == 96
    assert loaded["cam_layer"] == "features" and loaded["git_commit"] == "abc123"
    rebuilt = model_from_checkpoint(loaded)
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), model(x), atol=1e-5)


def test_corrupt_file_is_a_clear_error_naming_it(tmp_path):
    path = tmp_path / "checkpoint.pt"
    dataset = TorchCheckpointDataset(filepath=str(path))
    dataset.save(checkpoint_of(create_model("small_cnn")))
    path.write_bytes(path.read_bytes()[:1000])  # truncated
    with pytest.raises(DatasetError, match=f"checkpoint {path} is damaged"):
        dataset.load()


def change_a_weight(path: Path) -> None:
    """One byte in the middle of the file's largest tensor changed (bit rot, a bad copy): the archive still
    reads, and torch loads it without its checksum."""
    with zipfile.ZipFile(path) as archive:
        record = max(archive.infolist(), key=lambda info: info.file_size)
    whole = bytearray(path.read_bytes())
    header = record.header_offset  # the local header's name and extra field (torch pads the data with it)
    name, extra = (int.from_bytes(whole[header + at : header + at + 2], "little") for at in (26, 28))
    whole[header + 30 + name + extra + record.file_size // 2] ^= 0xFF
    path.write_bytes(bytes(whole))


def test_a_checkpoint_changed_since_it_was_written_is_refused(tmp_path):
    path = tmp_path / "checkpoint.pt"
    dataset = TorchCheckpointDataset(filepath=str(path))
    dataset.save(checkpoint_of(create_model("small_cnn")))
    change_a_weight(path)
    with pytest.raises(DatasetError, match=f"checkpoint {path} is damaged") as caught:
        dataset.load()
    assert str(caught.value).endswith("is not what was written (checksum)")


def test_a_file_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"payload": torch.nn.Linear(2, 2)}, path)  # a pickled module, not plain tensors
    with pytest.raises(DatasetError, match="damaged or not a torch checkpoint") as caught:
        TorchCheckpointDataset(filepath=str(path)).load()
    # torch's own text advises loading it with weights_only=False or allowing the class: not for a
    # file one cannot trust
    message = str(caught.value)
    assert message.endswith(
        ": UnpicklingError: holds more than tensors (Unsupported global: GLOBAL "
        "torch.nn.modules.linear.Linear was not an allowed global by default)"
    )
    assert "weights_only" not in message and "safe_globals" not in message


def test_a_foreign_checkpoint_is_refused(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save(create_model("small_cnn").state_dict(), path)
    with pytest.raises(DatasetError, match="not a crack_pipeline checkpoint: missing"):
        TorchCheckpointDataset(filepath=str(path)).load()


def test_weights_that_do_not_fit_the_architecture():
    checkpoint = checkpoint_of(create_model("small_cnn"))
    checkpoint["architecture"] = "squeezenet1_1"
    with pytest.raises(CheckpointError, match="does not fit architecture 'squeezenet1_1'"):
        model_from_checkpoint(checkpoint)


def test_missing_checkpoint_says_train_first(tmp_path):
    with pytest.raises(DatasetError, match="train the model first"):
        TorchCheckpointDataset(filepath=str(tmp_path / "none.pt")).load()


def test_a_save_removes_what_a_killed_save_of_another_version_left_unless_it_is_still_writing(tmp_path):
    folder = tmp_path / "checkpoint.pt"
    killed = folder / "2026-12-01T00.00.00.000Z" / ".checkpoint.pt.k1"  # a version never saved to again
    writing = folder / "2026-12-02T00.00.00.000Z" / ".checkpoint.pt.w2"  # another run's save at work
    for left in (killed, writing):
        left.parent.mkdir(parents=True)
        left.write_bytes(b"half")
    writer = os.open(writing, os.O_RDONLY)
    fcntl.flock(writer, fcntl.LOCK_EX)
    try:
        TorchCheckpointDataset(filepath=str(folder), version=Version(None, None)).save(
            checkpoint_of(create_model("small_cnn"))
        )
    finally:
        os.close(writer)
    assert not killed.exists() and writing.exists()
    assert TorchCheckpointDataset(filepath=str(folder), version=Version(None, None)).load()["variant"] == "v1"


@pytest.mark.parametrize("umask", [0o022, 0o077], ids=["022", "077"])
def test_a_saved_checkpoint_follows_the_umask_like_every_other_output(tmp_path, umask):
    before = os.umask(umask)
    try:
        path = tmp_path / "checkpoint.pt"
        TorchCheckpointDataset(filepath=str(path), version=Version(None, None)).save(
            checkpoint_of(create_model("small_cnn"))
        )
    finally:
        os.umask(before)
    (saved,) = path.glob("*/checkpoint.pt")
    # mkstemp's 0600 outlived the rename: another user of the group read "damaged (PermissionError)"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o666 & ~umask


def test_a_run_stopped_while_a_checkpoint_loads_is_not_told_the_file_is_damaged(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    dataset = TorchCheckpointDataset(filepath=str(path))
    dataset.save(checkpoint_of(create_model("small_cnn")))

    def stopped(*args, **kwargs):
        raise RunInterrupted("the run was stopped by SIGTERM")

    monkeypatch.setattr(torch, "load", stopped)
    with pytest.raises(DatasetError) as caught:  # Kedro's wrapper of any error a load raises
        dataset.load()
    assert isinstance(caught.value.__cause__, RunInterrupted), "the stop itself, not 'checkpoint is damaged'"
