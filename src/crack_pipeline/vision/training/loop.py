"""The training loop, readable top to bottom like torchvision's reference `train.py`.

Data come from uint8 tensor caches (decoded once), batches are augmented as tensors, and the
numerics follow `Precision` (the device; bf16 autocast + channels_last where it has it). A checkpoint
is written after every epoch, so a killed run resumes where it stopped. One process, or one of several
replicas (`Replicas`, DistributedDataParallel: `distributed.fit_distributed`).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from crack_pipeline.vision.data.augment import augment
from crack_pipeline.vision.data.tensor_cache import ImageTensors
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.models.inference import normalizer, predict_logits
from crack_pipeline.vision.models.precision import Precision
from crack_pipeline.vision.models.registry import ModelSpec
from crack_pipeline.vision.models.torch_files import save_atomically
from crack_pipeline.vision.training import schedule
from crack_pipeline.vision.training.config import TrainConfig
from crack_pipeline.vision.training.divergence import check_converged
from crack_pipeline.vision.training.freezing import hold_frozen_statistics, set_backbone_trainable
from crack_pipeline.vision.training.head_stage import train_head_on_features
from crack_pipeline.vision.training.log_lines import figures_line
from crack_pipeline.vision.training.observer import EpochObserver
from crack_pipeline.vision.training.replicas import SINGLE, Randomness, Replicas, deterministic_algorithms
from crack_pipeline.vision.training.resume import continue_draws, draws_of, load_resume, run_key
from crack_pipeline.vision.training.schedule import class_weights, epoch_order, make_optimizer, make_scheduler

logger = logging.getLogger(__name__)


@dataclass
class FitResult:
    model: nn.Module  # best weights restored, in eval mode
    history: list[dict[str, float]]  # one row per epoch
    best_epoch: int
    best_metrics: dict[str, float]
    precision: str
    train_seconds: float
    train_images_per_second: float

    @property
    def epochs_trained(self) -> int:  # min_steps may have raised the configured count, early stopping cut it
        return max((int(row["epoch"]) for row in self.history), default=0)


def evaluate(model, data: ImageTensors, spec, precision, criterion) -> dict[str, float]:
    logits = predict_logits(model, data.images, spec.mean, spec.std, precision)
    return {
        "loss": float(criterion(logits, data.labels)),
        "accuracy": float((logits.argmax(1) == data.labels).float().mean()) if len(data) else math.nan,
    }


def train_one_epoch(
    model,
    optimizer,
    scheduler,
    criterion,
    data: ImageTensors,
    spec,
    config,
    precision,
    randomness: Randomness,
    epoch,
    replicas: Replicas = SINGLE,
    holds_frozen_statistics: bool = False,
):
    model.train()
    if holds_frozen_statistics:  # in the network: a replica's model is DistributedDataParallel's wrapper
        hold_frozen_statistics(replicas.network(model), spec)
    normalise = normalizer(spec.mean, spec.std)
    order = replicas.share(epoch_order(data, config.balance_domains, randomness.order))
    total_loss, correct, seen = 0.0, 0, 0
    batches = range(0, len(order), config.batch_size)
    # disable=None: a bar on a terminal, nothing in logs and CI
    bar = tqdm(
        batches,
        desc=f"{spec.name} epoch {epoch}",
        unit="batch",
        disable=None if config.progress and replicas.writes else True,
        leave=False,
    )
    for start in bar:
        index = order[start : start + config.batch_size]
        images = precision.batch(normalise(augment(data.images[index], config.augment, randomness.augment)))
        labels = data.labels[index].to(precision.device)
        with precision.autocast():
            logits = model(images)
            loss = criterion(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total_loss += float(loss.detach()) * len(index)
        correct += int((logits.argmax(1) == labels).sum())
        seen += len(index)
        bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}")
    total_loss, correct, seen = replicas.total(total_loss, correct, seen)
    return {"loss": total_loss / max(seen, 1), "accuracy": correct / max(seen, 1)}, int(seen)


def fit(
    model: nn.Module,
    spec: ModelSpec,
    train: ImageTensors,
    val: ImageTensors,
    config: TrainConfig,
    resume_path: Path | None = None,
    pretrained: bool = False,
    device: str | torch.device = "cpu",
    replicas: Replicas = SINGLE,
    after_epoch: Callable[[nn.Module, int], bool] | None = None,
    observe_epoch: EpochObserver | None = None,
    keep_resume_state: bool = False,
) -> FitResult:
    """Train on `device`, stopping early on validation loss; the best weights restored, back on the CPU.

    With `resume_path`, the state after every epoch is saved there, and an existing file written by the same
    configuration, starting weights and data resumes training from it. It is removed at the end unless
    `keep_resume_state` (the caller removes it once the model is saved; a rerun returns it till then).
    `pretrained` says the model starts from trained weights (ImageNet's, `init_from`): fine-tuning, for
    `precision: auto`; a frozen backbone keeps its batch-norm statistics (`freezing.hold_frozen_statistics`).
    `replicas`: this process's place among several training together (`distributed.fit_distributed`).
    `after_epoch(model, epoch)`, called after each epoch's validation, stops training by answering True
    (e.g. once a target is met). `observe_epoch` looks at the model after each epoch's validation (and
    after the head stage), before the epoch is saved; one process only.
    """
    if not len(val):  # no epoch would beat the starting weights, returned as if trained
        raise InputError(
            f"{spec.name}: the validation split is empty: training keeps the epoch of lowest validation "
            "loss; give it images (split.ratios.val above 0)"
        )
    precision = Precision.resolve(config.precision, "fine_tune" if pretrained else "scratch", device)
    with deterministic_algorithms(config.deterministic):
        return _fit(
            *(model, spec, train, val, config, resume_path, precision, replicas, after_epoch, observe_epoch),
            *(keep_resume_state, pretrained),
        )


def _fit(
    model: nn.Module,
    spec: ModelSpec,
    train: ImageTensors,
    val: ImageTensors,
    config: TrainConfig,
    resume_path: Path | None,
    precision: Precision,
    replicas: Replicas,
    after_epoch: Callable[[nn.Module, int], bool] | None,
    observe_epoch: EpochObserver | None,
    keep_resume_state: bool,
    pretrained: bool,
) -> FitResult:
    torch.manual_seed(config.seed)
    steps_per_epoch = math.ceil(math.ceil(len(train) / replicas.world) / config.batch_size)
    config = schedule.lasting(config, steps_per_epoch, spec.name)
    key = run_key(spec.name, precision.name, config.fingerprint(), model, train, val, replicas.world)
    model = precision.prepare(model)
    randomness = Randomness.seeded(config.seed, replicas)
    weights = class_weights(train.labels, config.class_weights)
    criterion = nn.CrossEntropyLoss(weight=None if weights is None else weights.to(precision.device))
    val_criterion = nn.CrossEntropyLoss(weight=weights)  # on the CPU, where predict_logits answers
    optimizer = make_optimizer(model, config)
    scheduler = make_scheduler(optimizer, config, steps_per_epoch)

    history: list[dict[str, float]] = []
    best_loss, best_epoch, best_state, stale = math.inf, 0, copy.deepcopy(model.state_dict()), 0
    train_seconds, trained_images = 0.0, 0
    start_epoch = 1
    state = load_resume(resume_path, key)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        continue_draws(state, randomness, replicas, precision.device)
        history, best_loss, best_epoch = state["history"], state["best_loss"], state["best_epoch"]
        best_state, stale = state["best_state"], state["stale"]
        train_seconds, trained_images = state["train_seconds"], state["trained_images"]
        start_epoch = state["epoch"] + 1
        if observe_epoch is not None and "observer" in state:
            observe_epoch.load_state_dict(state["observer"])
        logger.info("resuming %s from epoch %d (%s)", spec.name, start_epoch, resume_path)

    stopped = False
    if config.head_passes and start_epoch == 1:
        row = replicas.first(
            train_head_on_features(model, spec, train, val, config, weights, precision, randomness.order)
        )
        if observe_epoch is not None:
            row.update(observe_epoch(model, 0))
        history.append(row)
        passes = config.head_passes
        logger.info(
            "%s epoch 0 (head on cached features, %d passes): %s", spec.name, passes, figures_line(row)
        )
        replicas.agree(model)
        best_loss, best_epoch, best_state = row["val_loss"], 0, copy.deepcopy(model.state_dict())
        stopped = replicas.first(after_epoch is not None and after_epoch(model, 0))

    for epoch in range(start_epoch, 1 if stopped else config.epochs + 1):
        if stale >= config.patience and epoch > config.epochs_before_stopping(steps_per_epoch):
            break
        set_backbone_trainable(model, spec, epoch > config.freeze_backbone_epochs)
        if epoch in (start_epoch, config.freeze_backbone_epochs + 1):  # a wrapper per stage (Replicas.wrap)
            trained = replicas.wrap(model, precision.device)
        started = time.perf_counter()
        train_metrics, seen = train_one_epoch(
            trained,
            optimizer,
            scheduler,
            criterion,
            train,
            spec,
            config,
            precision,
            randomness,
            epoch,
            replicas,
            holds_frozen_statistics=pretrained,
        )
        replicas.agree(model)
        train_seconds += time.perf_counter() - started
        trained_images += seen
        val_metrics = replicas.first(evaluate(model, val, spec, precision, val_criterion))
        row = {
            "epoch": epoch,
            **{f"train_{k}": v for k, v in train_metrics.items()},
            **{f"val_{k}": v for k, v in val_metrics.items()},
            "lr": optimizer.param_groups[0]["lr"],  # at the end of the epoch
            "seconds": time.perf_counter() - started,
        }
        if observe_epoch is not None:
            row.update(observe_epoch(model, epoch))
        history.append(row)
        logger.info("%s epoch %d: %s", spec.name, epoch, figures_line(row))
        if val_metrics["loss"] < best_loss:
            best_loss, best_epoch, stale = val_metrics["loss"], epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
        if resume_path is not None:
            draws = draws_of(randomness, replicas, precision.device)  # on every replica: they gather
        if resume_path is not None and replicas.writes:
            # atomic: a kill mid-write leaves the previous epoch's state intact
            save_atomically(
                {
                    "key": key,
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else {},
                    **draws,
                    "history": history,
                    "best_loss": best_loss,
                    "best_epoch": best_epoch,
                    "best_state": best_state,
                    "stale": stale,
                    "train_seconds": train_seconds,
                    "trained_images": trained_images,
                    **({"observer": observe_epoch.state_dict()} if observe_epoch is not None else {}),
                },
                resume_path,
            )

        if replicas.first(after_epoch is not None and after_epoch(model, epoch)):
            break

    check_converged(history, best_loss, spec, config)
    model.load_state_dict(best_state)
    model.eval().to("cpu")
    set_backbone_trainable(model, spec, True)
    if resume_path is not None and replicas.writes and not keep_resume_state:
        resume_path.unlink(missing_ok=True)
    best = next((row for row in history if row["epoch"] == best_epoch), {})
    return FitResult(
        model=model,
        history=history,
        best_epoch=best_epoch,
        best_metrics={k: v for k, v in best.items() if k.startswith("val_")},
        precision=precision.name,
        train_seconds=train_seconds,
        train_images_per_second=trained_images / train_seconds if train_seconds else 0.0,
    )
