"""Self-describing checkpoints: everything needed to rebuild, trust and trace a trained model."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from torch import nn

from crack_pipeline.vision.data.labels import CLASS_NAMES
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.models.registry import create_model, get_spec
from crack_pipeline.vision.settings import ConfigError, share_setting

logger = logging.getLogger(__name__)

FORMAT = "crack_pipeline.checkpoint/1"
REQUIRED = (
    "format",
    "variant",
    "architecture",
    "class_names",
    "input_size",
    "mean",
    "std",
    "cam_layer",
    "state_dict",
    "train_config",
    "data_fingerprint",
    "split_fingerprint",
    "git_commit",
    "best_epoch",
    "best_metrics",
)


class CheckpointError(InputError):
    """A checkpoint is damaged or does not describe a model this code can rebuild."""


def make_checkpoint(
    model: nn.Module, variant: str, architecture: str, input_size: int, **details: Any
) -> dict[str, Any]:
    """A plain dict of tensors and primitives (loadable with `weights_only=True`).

    `input_size` is the side the model was trained at: inference must use the same scale.
    """
    spec = get_spec(architecture)
    checkpoint = {
        "format": FORMAT,
        "checkpoint_id": uuid.uuid4().hex,  # ties the file to its MLflow run and registered version
        "variant": variant,
        "architecture": architecture,
        "class_names": list(CLASS_NAMES),
        "input_size": int(input_size),
        "mean": list(spec.mean),
        "std": list(spec.std),
        "cam_layer": spec.cam_layer,
        # contiguous: a channels_last model's weights would otherwise be saved in that layout
        "state_dict": {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()},
        **details,
    }
    check_checkpoint(checkpoint, "the new checkpoint")
    return checkpoint


def check_checkpoint(checkpoint: Any, source: str) -> None:
    if not isinstance(checkpoint, dict):
        raise CheckpointError(
            f"{source} is not a crack_pipeline checkpoint (found {type(checkpoint).__name__})"
        )
    missing = [key for key in REQUIRED if key not in checkpoint]
    if missing:
        raise CheckpointError(f"{source} is not a crack_pipeline checkpoint: missing {missing}")
    if checkpoint["format"] != FORMAT:
        raise CheckpointError(f"{source} has format {checkpoint['format']!r}; this code reads {FORMAT!r}")


def model_from_checkpoint(checkpoint: dict[str, Any], source: str = "checkpoint") -> nn.Module:
    """Rebuild the architecture and load the weights, in eval mode; a clear error on any mismatch."""
    check_checkpoint(checkpoint, source)
    try:
        model = create_model(checkpoint["architecture"], num_classes=len(checkpoint["class_names"]))
    except ConfigError as error:
        raise CheckpointError(f"{source}: {error}") from None
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(
            f"{source} does not fit architecture {checkpoint['architecture']!r}: {error}"
        ) from None
    return model.eval()


def threshold_basis(threshold: dict[str, Any]) -> str:
    """What a stored decision threshold was chosen for, in words."""
    if threshold.get("false_alarm_rate") is not None:
        return f"false alarms {threshold['false_alarm_rate']} on {threshold['chosen_on']}"
    return f"recall {threshold['target_recall']} on {threshold['chosen_on']}"


def decision_threshold(checkpoint: dict[str, Any], override: float | None, parameter: str) -> dict[str, Any]:
    """The p(crack) from which an image is called cracked, and where it comes from: `override` (the value of
    `parameter`) when set, else the model's own, chosen on validation when it was trained (0.5 for
    checkpoints from before thresholds were recorded). A `ConfigError` naming `parameter` for an override
    that is no p(crack): 50 (meant as a percentage) called every image clean without a word."""
    if override is not None:
        return {"value": threshold_setting(override, parameter), "source": parameter}
    recorded = checkpoint.get("threshold")
    if recorded is None:
        return {"value": 0.5, "source": "default (the model records none)"}
    return {
        **recorded,
        "source": f"the model's ({threshold_basis(recorded)})",
    }


def threshold_setting(value: Any, parameter: str) -> float | None:
    """The p(crack) `parameter` sets (None when unset), else a `ConfigError`: one outside [0, 1] (or NaN)
    called every image one class without a word (1.5: not a crack in the folder)."""
    return None if value is None else share_setting(value, parameter, "a p(crack)")


def domain_threshold_values(threshold: dict[str, Any]) -> dict[str, float]:
    """{domain: p(crack) from which its images are called cracked} of a `decision_threshold` (empty for a
    model of one domain, or a threshold given as a setting)."""
    return {domain: float(own["value"]) for domain, own in threshold.get("per_domain", {}).items()}


def threshold_text(value: float, decimals: int = 4) -> str:
    """A decision threshold as every log line, report, figure and page shows it: 4 decimals (0.5199; the
    gallery said 0.519902 where the logs said 0.5199), or `decimals`. One between 0 and 1 that they read as
    0 is shown by its first 2 digits (4.0e-05: "cracked from p(crack) 0.0000 on" stood above an image
    called clean, whose p(crack) read -0.001 under it), one they read as 1 with the decimals that keep it
    under 1 (0.99996)."""
    text = f"{value:.{decimals}f}"
    if 0 < value < 1 and float(text) == 0:
        return f"{value:.1e}"
    while 0 < value < 1 and float(text) == 1:
        decimals += 1
        text = f"{value:.{decimals}f}"
    return text


def describe_threshold(threshold: dict[str, Any]) -> str:
    """For a log line: `threshold 0.3712, the model's (recall 0.99 on validation)`."""
    return f"threshold {threshold_text(threshold['value'])}, {threshold['source']}"


def model_domains(checkpoint: dict[str, Any]) -> list[str]:
    """The domains the model was trained on, as its checkpoint records them: with their patch sides, or,
    for a model trained before those were recorded, those it chose a threshold of their own for (empty for
    a model that records neither)."""
    recorded = checkpoint.get("patch_sides") or (checkpoint.get("threshold") or {}).get("per_domain") or {}
    return sorted(recorded)


def check_domain(domain: Any, known: list[str], variant: str, parameter: str) -> None:
    """A `ConfigError` unless `domain` (the value of `parameter`) is one of those model `variant` was trained
    on (`known`; empty: trained before they were recorded)."""
    if domain in known:
        return
    trained_on = (
        f"was trained on {', '.join(known)}"
        if known
        else "was trained before its domains were recorded (retrain it to use this)"
    )
    raise ConfigError(f"{parameter}: {domain!r}, but model {variant} {trained_on}")


def check_architecture(found: str, wanted: str, variant: str, where: str) -> None:
    """An `InputError` when the model `where` names (a variant's `init_from`) is a `found`, not the
    architecture (`wanted`) of `variant`, which would start from its weights."""
    if found != wanted:
        raise InputError(
            f"{where} has architecture {found}, but variant {variant} has {wanted}: initialise from a model "
            "of the same architecture, or change the variant's architecture"
        )


def named_domain(value: Any, parameter: str) -> str | None:
    """The domain `parameter` names, as checkpoints and split manifests spell it (None when unset): a name
    of digits given on the command line (`--params=explain.domain=2024`) arrives as a number, and is that
    name. A `ConfigError` for anything else that is not a name."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f"{parameter}: a domain's name (e.g. sdnet_walls), not {value!r}")
    return str(value)


def for_domain(checkpoint: dict[str, Any], domain: str | None, parameter: str) -> dict[str, Any]:
    """The checkpoint as it scores images of `domain` (the value of `parameter`), one of those it was
    trained on: that domain's decision threshold for every view count (the pooled one, saying so, where the
    domain has none of its own: no crack of it in validation, or a one-class model's) and its training
    patch side, the scale its photos are tiled at (the pooled one, with a warning, for a model trained
    before patch sides were recorded per domain); unchanged when None. A `ConfigError` naming the model's
    domains otherwise."""
    domain = named_domain(domain, parameter)
    if domain is None:
        return checkpoint
    known = model_domains(checkpoint)
    check_domain(domain, known, checkpoint["variant"], parameter)

    def own(threshold: dict[str, Any]) -> dict[str, Any]:
        chosen = threshold.get("per_domain", {}).get(domain)
        if chosen is None:  # none of the domain's own: the pooled one, as evaluation decides its images
            pooled = {
                key: value for key, value in threshold.items() if key not in ("per_domain", "pooled_for")
            }
            if known == [domain]:  # a model of one domain: its threshold is that domain's
                return {**pooled, "chosen_on": f"{domain} {pooled['chosen_on']}"}
            return {**pooled, "chosen_on": f"{pooled['chosen_on']} of every domain, none of {domain}'s own"}
        return {**chosen, "chosen_on": f"{domain} {chosen['chosen_on']}"}

    side = (checkpoint.get("patch_sides") or {}).get(domain)
    if side is None:
        logger.warning(
            "%s: model %s records no patch side per domain (trained before they were): %s photos are called "
            "at %s's threshold but tiled at the pooled side, %s px; retrain it for %s's own",
            parameter,
            checkpoint["variant"],
            domain,
            domain,
            checkpoint.get("patch_side"),
            domain,
        )
    scoped = {**checkpoint, "domain": domain, **({"patch_side": side} if side is not None else {})}
    if checkpoint.get("threshold") is not None:
        scoped["threshold"] = own(checkpoint["threshold"])
    if checkpoint.get("thresholds_by_views"):
        scoped["thresholds_by_views"] = {n: own(t) for n, t in checkpoint["thresholds_by_views"].items()}
    return scoped


def unnamed_domain_note(checkpoint: dict[str, Any], parameter: str) -> str | None:
    """For a log line when a folder of no named domain meets a model of several: how its photos are scored,
    and the setting that names theirs; None for a model of one domain."""
    known = model_domains(checkpoint)
    if len(known) < 2:
        return None
    return (
        f"model {checkpoint['variant']} was trained on {', '.join(known)}: the folder's photos are scored at "
        f"its pooled threshold and scale; if they come from one of those, {parameter} names it (that "
        "domain's threshold and training patch side)"
    )
