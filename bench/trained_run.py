"""The latest trained run's files under data/, for the benchmarks that need a trained model (`make run`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io.core import DatasetError

from crack_pipeline.datasets import CrackSegmenterDataset, TorchCheckpointDataset
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.explain.crack_segmenter import check_segmenter

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


def segmenter_of(path: str | None) -> dict[str, Any]:
    """A benchmark's crack segmenter, its `--segmenter` file (`path`), else `make run`'s latest, printed with
    where it came from; a file that is missing or no crack segmenter is a usage error, not a traceback."""
    if path is None:
        path, source = str(latest("06_models/crack_segmenter/segmenter.pt")), "make run"
    elif not Path(path).is_file():  # else torch.load's FileNotFoundError
        raise SystemExit(f"--segmenter {path}: no such file")
    else:
        source = path
    try:
        trained = CrackSegmenterDataset(filepath=path).load()
        check_segmenter(trained, path)
    except (DatasetError, InputError) as error:
        raise SystemExit(f"--segmenter {error}") from None
    print(f"crack segmenter {trained['segmenter_id']} ({source})", flush=True)
    return trained
