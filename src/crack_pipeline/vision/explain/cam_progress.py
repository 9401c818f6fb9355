"""Heatmaps through training: where the model looks, epoch by epoch, on a fixed set of validation images.

`CamProgress` is an epoch observer for `training.loop.fit`: after every `every`-th epoch it explains the same
seeded images (crack and clean) with the current weights, through the batched CAM path, and scores the
pointing game on those with a crack mask. Its record travels in the checkpoint (under a megabyte for 8
samples at 160 px), so that
the MLflow run, the evaluation report and the gallery all show the same strips.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from pydantic import Field, field_validator
from torch import nn

from crack_pipeline.vision.data.labels import CLASS_NAMES
from crack_pipeline.vision.data.tensor_cache import ImageTensors
from crack_pipeline.vision.explain.cam import METHODS, CamExplainer
from crack_pipeline.vision.explain.localisation import pointing_game
from crack_pipeline.vision.explain.tiling import resize_heatmap
from crack_pipeline.vision.models.precision import Precision
from crack_pipeline.vision.models.registry import ModelSpec
from crack_pipeline.vision.settings import settings_dataclass

logger = logging.getLogger(__name__)
CRACK = CLASS_NAMES.index("crack")
HEATMAP_SIDE = 80  # stored heatmaps: CAM layers at 1/4 scale hold no finer detail at 160-320 px


@settings_dataclass
class CamProgressConfig:
    every: int = Field(0, ge=0)  # explain after every this many epochs (0: off); the head stage's epoch 0 too
    samples: int = Field(8, ge=0)  # validation images followed, half cracked, half clean if the split allows
    method: str = "layercam"
    seed: int = 0

    # Checked with the variant's settings, before the run: `cam_progress` met a typo when training began.
    @field_validator("method")
    @classmethod
    def _known_method(cls, method: str) -> str:
        if method not in METHODS:
            raise ValueError(f"unknown CAM method {method!r}; choose from {sorted(METHODS)}")
        return method


def cam_progress(
    spec: ModelSpec,
    val: ImageTensors,
    masks_of: Callable[[list[str]], Mapping[str, np.ndarray]],
    config: CamProgressConfig,
) -> CamProgress | None:
    """The observer of `config` for a model of `spec` on the validation split `val`; `masks_of(keys)` gives
    the crack masks of the images it follows that have one. None when it is off or there is nothing to look
    at."""
    if not config.every or not len(val) or config.samples < 1:
        return None
    picks = progress_samples(val.labels, config.samples, config.seed)
    names = [val.paths[i] for i in picks]
    masks = masks_of(names)
    return CamProgress(
        spec, val.images[picks], val.labels[picks], names, [masks.get(n) for n in names], config
    )


def progress_samples(labels: torch.Tensor, count: int, seed: int) -> list[int]:
    """`count` indices of `labels`, drawn with `seed`: half cracked, half clean, the other class filling in
    where one runs short; cracked ones first."""
    generator = torch.Generator().manual_seed(seed)
    cracked = torch.nonzero(labels == CRACK).flatten()
    clean = torch.nonzero(labels != CRACK).flatten()
    cracked = cracked[torch.randperm(len(cracked), generator=generator)].tolist()
    clean = clean[torch.randperm(len(clean), generator=generator)].tolist()
    take_cracked = min(len(cracked), max(count - len(clean), (count + 1) // 2))
    return cracked[:take_cracked] + clean[: count - take_cracked]


class CamProgress:
    """Records CAMs (target: the crack class, so that a map means the same at every epoch) of `images`
    after each due epoch; `masks` (one per image, or None) score the pointing game."""

    def __init__(
        self,
        spec: ModelSpec,
        images: torch.Tensor,
        labels: torch.Tensor,
        names: Sequence[str],
        masks: Sequence[np.ndarray | None],
        config: CamProgressConfig,
    ):
        self.spec, self.config = spec, config
        self.images, self.labels, self.names = images, labels, list(names)
        self.masks = _at_side(masks, images.shape[-1])  # resized once, scored every epoch
        self.epochs: list[int] = []
        self.heatmaps: list[torch.Tensor] = []  # per epoch: N x side x side uint8
        self.probabilities: list[list[float]] = []
        self.pointing: list[float | None] = []
        self.seconds: list[float] = []

    def __call__(self, model: nn.Module, epoch: int) -> dict[str, float]:
        """Explains the images with `model`'s current weights if `epoch` is due; its metric for the
        epoch's history row (`cam_pointing_game` where masks exist)."""
        if not self.config.every or (epoch and epoch % self.config.every):
            return {}
        started = time.perf_counter()
        # A copy: the explainer freezes and switches to eval the model it is given.
        device = next(model.parameters()).device
        explainer = CamExplainer(
            copy.deepcopy(model),
            self.spec.cam_layer,
            self.spec.mean,
            self.spec.std,
            self.config.method,
            target="crack",
            precision=Precision("fp32", device),
        )
        try:
            explanation = explainer.explain(self.images)
        finally:
            explainer.close()
        side = (HEATMAP_SIDE, HEATMAP_SIDE)
        stored = np.stack([resize_heatmap(h, side) for h in explanation.heatmaps])
        self.epochs.append(epoch)
        self.heatmaps.append(torch.from_numpy(np.round(stored * 255).astype(np.uint8)))
        self.probabilities.append([float(p) for p in explanation.probabilities])
        hits = [
            pointing_game(heatmap, mask)
            for heatmap, mask in zip(explanation.heatmaps, self.masks, strict=True)
            if mask is not None
        ]
        self.pointing.append(float(np.mean(hits)) if hits else None)
        self.seconds.append(time.perf_counter() - started)
        # Seconds stay in `self.seconds`: the history row holds what a rerun reproduces.
        return {"cam_pointing_game": self.pointing[-1]} if hits else {}

    def state_dict(self) -> dict[str, Any]:
        """What has been recorded, as plain tensors and lists (a checkpoint entry, or a resume state)."""
        return {
            "method": self.config.method,
            "target": "crack",
            "names": self.names,
            "labels": self.labels.tolist(),
            "images": self.images,
            "epochs": list(self.epochs),
            "heatmaps": torch.stack(self.heatmaps) if self.heatmaps else torch.empty(0, dtype=torch.uint8),
            "probabilities": [list(p) for p in self.probabilities],
            "pointing_game": list(self.pointing),
            "seconds": list(self.seconds),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continues a record made of the same images by the same method (a resumed run); another record is
        set aside, said in the log."""
        if state.get("names") != self.names or state.get("method") != self.config.method:
            logger.info(
                "cam_progress: the resumed run's heatmaps were of other images or another method: restarted"
            )
            return
        self.epochs, self.pointing, self.seconds = state["epochs"], state["pointing_game"], state["seconds"]
        self.heatmaps = list(state["heatmaps"])
        self.probabilities = state["probabilities"]


def _at_side(masks: Sequence[np.ndarray | None], side: int) -> list[np.ndarray | None]:
    """Crack masks at the images' side x side (None for a missing or empty one: nothing to point at)."""
    return [
        None if mask is None or not mask.any() else resize_heatmap(mask.astype(np.float32), (side, side)) > 0
        for mask in masks
    ]
