"""`make clean-data`: outputs under data/ go; what cannot be made again stays; never while a run uses them."""

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

OUTPUTS = ["data/06_models/small_cnn/checkpoint.pt/v1/checkpoint.pt", "data/general/03_primary/split.csv"]
KEPT = ["data/01_raw/ozgenel/Positive/1.jpg", "data/retrain.lock", "data/versions.lock", "mlflow.db"]


@pytest.fixture
def working_copy(tmp_path) -> Path:
    """A git working copy with the project's Makefile and ignore rules, outputs and inputs in data/."""
    for name in ("Makefile", ".gitignore"):
        shutil.copy(PROJECT_ROOT / name, tmp_path / name)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for relative in OUTPUTS + KEPT:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"x")
    return tmp_path


def clean_data(folder: Path, *args: str) -> subprocess.CompletedProcess:
    command = ["make", "-s", "--no-print-directory", "-C", str(folder), "clean-data", *args]
    return subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)


def existing(folder: Path) -> list[str]:
    return [relative for relative in OUTPUTS + KEPT if (folder / relative).exists()]


def test_clean_data_keeps_the_photos_and_the_locks(working_copy):
    """It removed everything ignored under data/: fetched data sets, photos put in data/01_raw, and the lock
    files, even held: a retrain started then took a new file's lock and ran beside the one running."""
    asked = clean_data(working_copy)
    assert "removes data/06_models/" in asked.stdout and "nothing removed" in asked.stdout
    assert existing(working_copy) == OUTPUTS + KEPT, "nothing without a yes"
    assert clean_data(working_copy, "YES=1").returncode == 0
    assert existing(working_copy) == KEPT


def test_clean_data_waits_for_no_run(working_copy):
    held = os.open(working_copy / "data/versions.lock", os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_SH)  # as every kedro run holds it
    try:
        refused = clean_data(working_copy, "YES=1")
    finally:
        os.close(held)
    assert refused.returncode != 0 and "a kedro run (or kedro prune) is using data/" in refused.stderr
    assert existing(working_copy) == OUTPUTS + KEPT
