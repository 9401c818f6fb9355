"""The crack segmenter adapted to a surface from that surface's own photos, no mask drawn: self-training.

Trained on synthetic cracks alone, the segmenter meets a real surface's grain, pores and stains first in a
user's photos. What it is sure of there teaches it the rest: where its own finding over a whole photo (the
mask explain makes of a photo, `segmenter_finding`) marks crack is crack; where its p(crack) is low and no
such crack is near is clean; the doubtful pixels between are left out. Trained on those, with synthetic
batches beside them so that it keeps what a crack is, it learns the surface (README: CFD's tolerant F1).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable

import numpy as np
import torch
from pydantic import Field
from scipy import ndimage

from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.explain.crack_masks import CrackMaskConfig
from crack_pipeline.vision.explain.crack_segmenter import (
    CrackSegmenter,
    SegmenterConfig,
    cpu_weights,
    fit_steps,
    load_segmenter,
    local_contrast,
    segmenter_net,
    synthetic_training_set,
    training_batch,
)
from crack_pipeline.vision.explain.crack_tracing import crack_probability
from crack_pipeline.vision.explain.segmenter_calls import segmenter_finding
from crack_pipeline.vision.settings import settings_dataclass

_UNKNOWN = -1  # a pixel's pseudo-label where the segmenter is unsure: left out of the loss


class NoPhotoToLearn(InputError):
    """None of the photos given could be learned from."""


@settings_dataclass
class AdaptationConfig:
    photos: int = Field(200, ge=1)  # at most this many photos of the folder (evenly spaced) are learned from
    crops_per_photo: int = Field(
        32, ge=1
    )  # crops of each photo (the segmenter's crop side) kept to learn from
    steps: int = Field(400, ge=1)  # optimiser steps
    batch_size: int = Field(16, ge=2)  # half synthetic patches, half crops of the photos
    # Synthetic patches per class the synthetic half comes from (a quarter of the segmenter's own: rendered
    # 4x as fast, and enough to keep what a crack is).
    synthetic_samples: int = Field(200, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    clean_below: float = Field(0.1, gt=0, lt=1)  # p(crack) under which a pixel far from its cracks is clean
    clear_of_cracks: int = Field(4, ge=0)  # px: how far from its cracks a clean pixel must be
    seed: int = Field(1, ge=0)


def pseudo_labels(
    image: np.ndarray, net: CrackSegmenter, tile_side: float, masks: CrackMaskConfig, config: AdaptationConfig
) -> np.ndarray:
    """HxW int8 of the HxW(x3) `image`: 1 where the segmenter's finding over the whole photo marks crack,
    0 where its p(crack) is under `clean_below` and `clear_of_cracks` px from those, -1 between."""
    shape = image.shape[:2]
    probability = crack_probability(net, image, np.ones(shape, dtype=bool))
    found = segmenter_finding(image, tile_side, 0.0, 1.0, masks, net, probability)
    crack = found.mask if found is not None else np.zeros(shape, dtype=bool)
    near = (
        ndimage.binary_dilation(crack, iterations=config.clear_of_cracks) if config.clear_of_cracks else crack
    )
    labels = np.full(shape, _UNKNOWN, dtype=np.int8)
    labels[(probability < config.clean_below) & ~near] = 0
    labels[crack] = 1
    return labels


def adapted_segmenter(
    checkpoint: dict,
    photos: Iterable[np.ndarray],
    config: AdaptationConfig,
    tile_side: float,
    masks: CrackMaskConfig,
    device: str | torch.device = "cpu",
    progress: Callable[[int, float], None] | None = None,
) -> tuple[dict, dict[str, float]]:
    """The `train_segmenter` checkpoint's segmenter self-trained on `photos` (HxWx3 uint8, each at least
    its crop side both ways), as a checkpoint of its own (a new `segmenter_id`, `checkpoint`'s settings),
    and what its pseudo-labels held: {"photos", "crack": share of crack pixels, "unknown": share left out}."""
    torch.manual_seed(config.seed)
    folded = load_segmenter(checkpoint, device)  # a complete segmenter checkpoint, else refused
    base = SegmenterConfig(**checkpoint["config"])
    rng = np.random.default_rng(config.seed)
    crops, labels = _photo_crops(photos, folded, tile_side, masks, config, base.crop, rng)
    net = segmenter_net(checkpoint, "crack segmenter").to(device)
    synthetic = synthetic_training_set(dataclasses.replace(base, samples=config.synthetic_samples))
    half = dataclasses.replace(base, batch_size=config.batch_size // 2)

    def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        synthetic_crops, synthetic_truths = training_batch(*synthetic, half, rng)
        photo_crops, photo_labels = _photo_batch(crops, labels, config.batch_size - half.batch_size, rng)
        truths = torch.cat([synthetic_truths, photo_labels]).to(device)
        known = (truths != _UNKNOWN).float()
        return torch.cat([synthetic_crops, photo_crops]).to(device), truths * known, known

    losses = fit_steps(net, batch, config.steps, config.learning_rate, progress)
    adapted = {
        **checkpoint,
        "segmenter_id": uuid.uuid4().hex,
        "state_dict": cpu_weights(net),
        "losses": losses,
    }
    learned = {
        "photos": len(crops) // config.crops_per_photo,
        "crack": float(np.mean(labels == 1)),
        "unknown": float(np.mean(labels == _UNKNOWN)),
    }
    return adapted, learned


def _photo_crops(photos, net, tile_side, masks, config, side, rng) -> tuple[np.ndarray, np.ndarray]:
    """`crops_per_photo` random `side`-px crops of each photo's local contrast and pseudo-labels: a photo
    of any size costs the same memory (a 12-MP photo's labels would be 12 MB, its contrast 48 MB)."""
    crops, labels = [], []
    for image in photos:
        contrast, labelled = local_contrast(image), pseudo_labels(image, net, tile_side, masks, config)
        height, width = labelled.shape
        for _ in range(config.crops_per_photo):
            top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
            crops.append(contrast[top : top + side, left : left + side])
            labels.append(labelled[top : top + side, left : left + side])
    if not crops:
        raise NoPhotoToLearn("no photo to adapt the crack segmenter to")
    return np.stack(crops).astype(np.float32), np.stack(labels)


def _photo_batch(crops, labels, size, rng) -> tuple[torch.Tensor, torch.Tensor]:
    """`size` of the photos' crops, turned by quarter turns, their contrast scaled as `training_batch`'s."""
    chosen, turned = rng.integers(0, len(crops), size), []
    for index in chosen:
        turns = int(rng.integers(4))
        turned.append((np.rot90(crops[index], turns) * rng.uniform(0.6, 1.5), np.rot90(labels[index], turns)))
    inputs = np.stack([crop for crop, _ in turned]).astype(np.float32)
    truths = np.stack([label for _, label in turned]).astype(np.float32)
    return torch.from_numpy(inputs)[:, None], torch.from_numpy(truths)[:, None]
