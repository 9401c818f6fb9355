"""The latest trained run's files under data/, for the benchmarks that need a trained model (`make run`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crack_pipeline.datasets import CrackSegmenterDataset, TorchCheckpointDataset

DATA = Path(__file__).resolve().parents[1] / "data"


def latest(relative: str) -> Path:
    """The newest version of a versioned dataset under data/."""
    folder = DATA / relative
    versions = sorted(folder.iterdir()) if folder.is_dir() else []
    if not versions:
        raise SystemExit(f"nothing in data/{relative}: run `make run` first")
    return versions[-1] / Path(relative).name


def latest_checkpoint(variant: str) -> dict[str, Any]:
    return TorchCheckpointDataset(filepath=str(latest(f"06_models/{variant}/checkpoint.pt"))).load()


def latest_segmenter() -> dict[str, Any]:
    return CrackSegmenterDataset(filepath=str(latest("06_models/crack_segmenter/segmenter.pt"))).load()
