"""The weights a variant's training starts from: an earlier model (`init_from`), ImageNet's, or random."""

from __future__ import annotations

import logging
from typing import Any

import torch

# At run time, not only for type checkers: Kedro reads the nodes' type hints.
from crack_pipeline.datasets.registered_model import ModelRegistry
from crack_pipeline.vision.data.labels import CLASS_NAMES
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.models.checkpoint import check_architecture, model_from_checkpoint
from crack_pipeline.vision.models.registry import create_model, get_spec

logger = logging.getLogger(__name__)


def initial_model(
    variant: dict[str, Any],
    registered_models: ModelRegistry,
    name: str,
    trained_in_run: dict[str, Any] | None = None,
) -> tuple[torch.nn.Module, bool, dict[str, Any] | None, torch.Tensor | None]:
    """The model training starts from: an earlier model of the same architecture (`init_from`: champion,
    a registered version, or a variant's newest), else ImageNet weights (`pretrained`) or a random init.
    `trained_in_run`: the checkpoint of the variant `init_from` names where the run trains it first; the
    registry's newest of that variant must be it.

    Returns:
        The model, whether it starts from trained weights, what it was initialised from (or None), and the
        images that earlier model learned from, if it records them (the new one has learned from them too).
    """
    spec = get_spec(variant["architecture"])
    reference = variant.get("init_from")
    if reference is None:
        pretrained = bool(variant.get("pretrained", False))
        model = create_model(
            spec.name,
            num_classes=len(CLASS_NAMES),
            pretrained=pretrained,
            weights_path=variant.get("weights_path"),
        )
        return model, pretrained, None, None
    setting = f"train.models.{name}.init_from"
    source = registered_models.checkpoint(str(reference), setting)
    where = f"{setting}: {str(reference)!r} (version {source['model_version']}, {source['variant']})"
    if trained_in_run is not None and source["checkpoint_id"] != trained_in_run["checkpoint_id"]:
        raise InputError(
            f"{where} is not the {reference} this run trained ({trained_in_run['checkpoint_id']}): that "
            "one was not registered (no MLflow run was active); train it in a run of its own first, "
            "or name a registered version"
        )
    check_architecture(source["architecture"], spec.name, name, where)
    if list(source["class_names"]) != list(CLASS_NAMES):
        raise InputError(f"{where} has classes {source['class_names']}, not {list(CLASS_NAMES)}")
    origin = {k: source[k] for k in ("model_version", "variant", "checkpoint_id", "input_size")}
    logger.info("train: %s starts from %s", name, where)
    model = model_from_checkpoint(source, where).train()
    return model, True, {"reference": str(reference), **origin}, source.get("learned_images")
