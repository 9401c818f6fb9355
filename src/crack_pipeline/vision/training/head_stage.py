"""A pretrained backbone's linear probe as a first stage: the classifier alone trained on the backbone's
features, computed once (eval mode, no augmentation), for a few passes — seconds where an epoch through
the whole network takes minutes; fine-tuning then starts from a trained head."""

from __future__ import annotations

import copy
import time

import torch
from torch import nn

from crack_pipeline.vision.data.tensor_cache import ImageTensors
from crack_pipeline.vision.models.inference import crack_probabilities_and_features, fold_batch_norms
from crack_pipeline.vision.models.precision import Precision
from crack_pipeline.vision.models.registry import ModelSpec
from crack_pipeline.vision.settings import ConfigError
from crack_pipeline.vision.training.config import TrainConfig
from crack_pipeline.vision.training.schedule import epoch_order


def train_head_on_features(
    model: nn.Module,
    spec: ModelSpec,
    train: ImageTensors,
    val: ImageTensors,
    config: TrainConfig,
    class_weights: torch.Tensor | None,
    precision: Precision,
    generator: torch.Generator,
) -> dict[str, float]:
    """Train `model`'s classifier (`spec.head`) in place for `config.head_passes` passes over the backbone's
    features of `train`, each pass drawn as an epoch is (with `config.balance_domains`, every domain
    equally often); the run's history row of this stage (epoch 0): validation loss and accuracy, from
    the features of `val`, learning rate and seconds."""
    started = time.perf_counter()
    head = model.get_submodule(spec.head)
    if any(isinstance(m, nn.Conv2d) for m in head.modules()) or not any(
        isinstance(m, nn.Linear) for m in head.modules()
    ):
        raise ConfigError(
            f"head_passes: {spec.name}'s classifier ({spec.head}) is not linear layers on pooled features; "
            "set head_passes: 0 for it"
        )

    # The features as inference computes them: a copy with batch norms folded (EfficientNet-Lite0's forward
    # 3.2x faster on a 2-core CPU, outputs equal to 1e-5).
    probe = fold_batch_norms(copy.deepcopy(model).eval())

    def features(data: ImageTensors) -> torch.Tensor:
        _, found = crack_probabilities_and_features(
            probe, spec.head, data.images, spec.mean, spec.std, precision
        )
        return torch.from_numpy(found).to(precision.device)

    train_features, val_features = features(train), features(val)
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    weight = None if class_weights is None else class_weights.to(precision.device)
    labels = train.labels.to(precision.device)
    head.train()
    for _ in range(config.head_passes):
        order = epoch_order(train, config.balance_domains, generator)  # domains balanced as epochs are
        for start in range(0, len(order), config.batch_size):
            index = order[start : start + config.batch_size]
            loss = nn.functional.cross_entropy(head(train_features[index]), labels[index], weight=weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    head.eval()
    with torch.no_grad():
        logits = head(val_features).float().cpu()
    return {
        "epoch": 0,
        "val_loss": float(nn.functional.cross_entropy(logits, val.labels, weight=class_weights)),
        "val_accuracy": float((logits.argmax(1) == val.labels).float().mean()) if len(val) else float("nan"),
        "lr": config.lr,
        "seconds": time.perf_counter() - started,
    }
