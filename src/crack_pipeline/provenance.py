"""Where a model came from: data fingerprints, the images it learned from and the code's git commit."""

from __future__ import annotations

import hashlib
import logging
import subprocess
from collections.abc import Collection, Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from crack_pipeline.vision.errors import InputError

logger = logging.getLogger(__name__)

# The splits whose images a model is fitted and chosen on: scores on any of them flatter it.
LEARNED_SPLITS = ("train", "val")


def data_fingerprint(manifest: pd.DataFrame) -> str:
    """sha256 over the sorted (path, content hash, label) of every image: same files, same fingerprint."""
    return _fingerprint(manifest, ["path", "sha256", "label"])


def split_fingerprint(manifest: pd.DataFrame) -> str:
    """sha256 over the sorted (path, content hash, label, split): identifies the split version by content."""
    return _fingerprint(manifest, ["path", "sha256", "label", "split"])


def require_split_of(checkpoint: dict, manifest: pd.DataFrame) -> None:
    """An `InputError` where `checkpoint` was trained on another split than `manifest`: its own evaluation
    (`--from-nodes=<variant>.evaluate_variant` after a new split) scored it on images it may have learned
    from and logged that into its training run, under its own split's fingerprint."""
    if checkpoint.get("split_fingerprint") not in (None, split_fingerprint(manifest)):
        raise InputError(
            f"{checkpoint['variant']} was trained on another split than the current one: train it again on "
            f"this one (kedro run --pipelines=train --namespaces={checkpoint['variant']}), or compare it "
            "with the others on the images it did not learn from (kedro run --pipelines=evaluate)"
        )


def _fingerprint(manifest: pd.DataFrame, columns: list[str]) -> str:
    rows = manifest.sort_values("path")[columns].itertuples(index=False)
    return hashlib.sha256("\n".join("\t".join(map(str, row)) for row in rows).encode()).hexdigest()


def _image_keys(sha256: Iterable[str]) -> np.ndarray:
    """int64 keys of images by content: the first 15 hex digits (60 bits) of each SHA-256, so a checkpoint
    holds a million images' in 8 MB (a chance collision among them: about 4e-7)."""
    return np.fromiter((int(digest[:15], 16) for digest in sha256), dtype=np.int64)


def learned_images(split_manifest: pd.DataFrame, inherited: torch.Tensor | None = None) -> torch.Tensor:
    """What a checkpoint keeps of the images its model learned from (LEARNED_SPLITS of its split, and
    `inherited`: those of the model it was fine-tuned from): their sorted keys."""
    learned = split_manifest[split_manifest.split.isin(LEARNED_SPLITS)]
    keys = _image_keys(learned.sha256)
    if inherited is not None:
        keys = np.concatenate([keys, inherited.numpy()])
    return torch.from_numpy(np.unique(keys))


def learned_mask(checkpoint: dict, sha256: Collection[str]) -> np.ndarray | None:
    """Which of these images (by content) the model learned from; None for a model trained before they
    were recorded."""
    if checkpoint.get("learned_images") is None:
        return None
    return np.isin(_image_keys(sha256), checkpoint["learned_images"].numpy())


def learned_among(checkpoint: dict, sha256: Collection[str], what: str, section: str) -> int | None:
    """How many of these images (by content) the model learned from (its training or validation images,
    or those of a model it was fine-tuned from), warned of when any: scores on them flatter it. None for a
    model trained before they were recorded."""
    mask = learned_mask(checkpoint, sha256)
    if mask is None:
        return None
    learned = int(mask.sum())
    if learned:
        logger.warning(
            "%s: %d of the %d %s are images model %s learned from (training or validation): its scores on "
            "them flatter it",
            section,
            learned,
            len(sha256),
            what,
            checkpoint["variant"],
        )
    return learned


def git_commit(path: Path | None = None) -> str:
    """The checked-out commit, with "+dirty" when tracked files changed or the package (`path`'s folder)
    holds files git does not track (a new module runs too); "unknown" outside git."""
    cwd = path or Path(__file__).parent
    try:
        commit, changed, untracked = (
            subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
            for command in (
                ["git", "rev-parse", "HEAD"],
                ["git", "status", "--porcelain", "--untracked-files=no"],
                ["git", "ls-files", "--others", "--exclude-standard", "--", "."],
            )
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if changed or untracked else "")
