"""A run training on several processes that is killed (SIGKILL, the OOM killer) leaves neither its replicas
training nor their folder in /tmp (every training image) for good."""

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from crack_pipeline.vision.training.replica_folder import (
    PREFIX,
    SETTLED_SECONDS,
    remove_stale_folders,
    replica_folder,
)
from tests.test_run_lock import alive, children_of, eventually

# A run whose 2 replicas train (for long) until it is killed.
RUN = """
from tests.tiny_training import SPEC, config, seeded_model, tiny_split
from crack_pipeline.vision.training.distributed import fit_distributed
long = config(epochs=10**6, patience=10**6)
fit_distributed(seeded_model(), SPEC, tiny_split(2, 1, 32), tiny_split(2, 2, 32), long, 2)
"""


def descendants_of(pid: int) -> list[int]:
    """Its children, theirs, and so on (replicas are the children of a fork server the run started)."""
    try:
        children = children_of(pid)
    except FileNotFoundError:  # ended meanwhile
        return []
    return children + [grandchild for child in children for grandchild in descendants_of(child)]


def maps_images(pid: int) -> bool:
    """Whether process `pid` maps a replica folder's images (False once it has ended)."""
    try:
        return b"images.pt" in Path(f"/proc/{pid}/maps").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False


def backdate(folder: Path) -> None:
    """As old as a folder of a run killed a while ago."""
    before = folder.stat().st_mtime - 2 * SETTLED_SECONDS
    os.utime(folder, (before, before))


def test_folders_no_run_holds_are_removed_and_no_other(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    killed, young, other = (tmp_path / f"{PREFIX}{name}" for name in ("killed", "young", "other"))
    for folder in (killed, young):
        folder.mkdir()
        (folder / "images.pt").write_bytes(b"images")
    backdate(killed)
    other.with_name("not-ours").mkdir()
    with replica_folder() as used:
        assert not killed.exists() and young.exists(), "a killed run's, not one just made"
        assert used.parent == tmp_path and used.name.startswith(PREFIX)
        backdate(used)
        assert remove_stale_folders(tmp_path) == [] and used.is_dir(), "held: a run at work"
    assert not used.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"{PREFIX}young", "not-ours"]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from /proc (Linux)")
def test_a_killed_run_s_replicas_end_and_the_next_run_removes_their_folder(tmp_path):
    run = subprocess.Popen(
        [sys.executable, "-c", RUN], env={**os.environ, "TMPDIR": str(tmp_path)}, stderr=subprocess.DEVNULL
    )
    replicas, started = [], []
    try:

        def training() -> bool:
            """Both replicas started and read their images (mapped), their run being theirs."""
            replicas[:] = [pid for pid in descendants_of(run.pid) if maps_images(pid)]
            return len(replicas) == 2

        assert eventually(training, 240), "its replicas started"  # ends once they do: long only under load
        assert run.poll() is None, "at work"
        started[:] = descendants_of(run.pid)  # the replicas, the fork server they came from, and any helper
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    try:
        assert eventually(lambda: not any(alive(pid) for pid in started), 10), "they end with their run"
    finally:
        for pid in {*replicas, *started}:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    (left,) = tmp_path.glob(f"{PREFIX}*")
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith("torchelastic")] == []
    backdate(left)
    assert remove_stale_folders(tmp_path) == [left] and not left.exists()
