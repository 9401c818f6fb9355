"""Tiny synthetic splits, settings and seeded models of the training tests, in a module of their own: a run
started in a subprocess (tests/test_replica_folder.py) imports them without a test module's imports (pytest,
Kedro, MLflow through tests/conftest.py), which took it seconds more to start."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from crack_pipeline.vision.data.augment import AugmentConfig
from crack_pipeline.vision.data.synthetic import SynthConfig, render_sample
from crack_pipeline.vision.data.tensor_cache import ImageTensors
from crack_pipeline.vision.models.inference import predict_logits
from crack_pipeline.vision.models.precision import Precision
from crack_pipeline.vision.models.registry import create_model, get_spec
from crack_pipeline.vision.training.config import TrainConfig

SPEC = get_spec("small_cnn")


def tiny_split(count: int, seed: int, size: int = 64) -> ImageTensors:
    config = SynthConfig(count_per_class=count, image_size=size, seed=seed, difficulty=0.0)
    images, labels = [], []
    for positive in (True, False):
        for index in range(1, count + 1):
            images.append(render_sample(config, positive, index).image.transpose(2, 0, 1))
            labels.append(int(positive))
    return ImageTensors(
        torch.from_numpy(np.stack(images)), torch.tensor(labels), [str(i) for i in range(2 * count)]
    )


def config(**overrides) -> TrainConfig:
    base = TrainConfig(
        epochs=6,
        batch_size=16,
        lr=3e-3,
        patience=10,
        seed=0,
        precision="fp32",
        progress=False,
        augment=AugmentConfig(translate=4),
    )
    return dataclasses.replace(base, **overrides)


def seeded_model(seed: int = 0):
    """A small_cnn whose initial weights come from `seed`, drawn before the model is built."""
    torch.manual_seed(seed)
    return create_model("small_cnn")


def accuracy(model, split, precision="fp32") -> float:
    logits = predict_logits(model, split.images, SPEC.mean, SPEC.std, Precision(precision))
    return float((logits.argmax(1) == split.labels).float().mean())
