"""A model variant's settings (`train.defaults` with its `train.models.<name>` entry), checked: before a
run starts (hooks.SettingsCheckHook) and when the variant trains."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crack_pipeline.vision.data.labels import CLASS_NAMES
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.explain.cam_progress import CamProgressConfig
from crack_pipeline.vision.models.checkpoint import named_domain
from crack_pipeline.vision.models.inference import check_views
from crack_pipeline.vision.models.registry import REGISTRY, ModelSpec, get_spec
from crack_pipeline.vision.settings import ConfigError, count_setting, settings_from
from crack_pipeline.vision.training.config import TrainConfig
from crack_pipeline.vision.training.one_class import OneClassConfig

if TYPE_CHECKING:  # torch: kedro's commands load this module without it (tests/test_cli_startup.py)
    from crack_pipeline.vision.data.tensor_cache import ImageTensors

logger = logging.getLogger(__name__)

# What a `train.models.<name>` entry may hold.
VARIANT_KEYS = ("architecture", "kind", "pretrained", "weights_path", "init_from", "training", "one_class")


def variant_settings(train: dict[str, Any], variant: dict[str, Any]) -> dict[str, Any]:
    """A variant's training settings: `train.defaults` with its `training` overrides, `augment` key by key."""
    overrides = variant.get("training") or {}
    settings = {**train["defaults"], **overrides}
    settings["augment"] = {**(train["defaults"].get("augment") or {}), **(overrides.get("augment") or {})}
    return settings


@dataclasses.dataclass(frozen=True)
class VariantSetup:
    """A variant's settings, checked: `train.defaults` with its overrides, and what they make."""

    settings: dict[str, Any]
    config: TrainConfig
    spec: ModelSpec
    views: int
    one_class: OneClassConfig | None  # a one-class model's
    progress: CamProgressConfig | None  # a classifier's heatmaps through training


def variant_setup(name: str, variant: dict[str, Any], train: dict[str, Any]) -> VariantSetup:
    """The settings variant `name` trains with, or a `ConfigError` naming a bad one; before a run starts
    (hooks.SettingsCheckHook) as well as in `train_variant`."""
    try:
        views = check_views(train.get("test_time_views", 1), "train.test_time_views")
    except ValueError as error:
        raise ConfigError(str(error)) from None
    _check_train_values(train)
    training = variant.get("training") if isinstance(variant, dict) else None
    augment = training.get("augment") if isinstance(training, dict) else None
    if not isinstance(variant, dict) or not all(
        part is None or isinstance(part, dict) for part in (training, augment)
    ):
        raise ConfigError(
            f"train.models.{name}: a table of settings (architecture; training, its augment: tables)"
        )
    unknown = sorted(set(variant) - set(VARIANT_KEYS))
    if unknown or "architecture" not in variant:
        problem = f"{unknown[0]}: unknown setting (a typo?)" if unknown else "architecture: missing"
        raise ConfigError(f"train.models.{name}.{problem}; a variant's settings: {', '.join(VARIANT_KEYS)}")
    settings = variant_settings(train, variant)
    config = settings_from(TrainConfig, settings, f"train.defaults + train.models.{name}.training")
    spec = get_spec(variant["architecture"])
    _check_weights_path(name, variant, spec)
    kind = variant.get("kind", spec.kind)
    if kind != spec.kind:
        one_class_architectures = sorted(n for n, other in REGISTRY.items() if other.kind == "one_class")
        raise ConfigError(
            f"train.models.{name}.kind: {kind!r}, but architecture {spec.name} is {spec.kind}; "
            f"one_class architectures: {', '.join(one_class_architectures)}"
        )
    if spec.kind == "one_class":
        if not variant.get("pretrained") and variant.get("init_from") is None:
            raise ConfigError(
                f"train.models.{name}: a one-class model compares ImageNet features; set `pretrained: true`"
            )
        one_class = settings_from(OneClassConfig, variant.get("one_class"), f"train.models.{name}.one_class")
        return VariantSetup(settings, config, spec, views, one_class, None)
    progress = settings_from(CamProgressConfig, train.get("cam_progress"), "train.cam_progress")
    return VariantSetup(settings, config, spec, views, None, progress)


def _check_weights_path(name: str, variant: dict[str, Any], spec: ModelSpec) -> None:
    """A `ConfigError` for a `weights_path` that would not be read: the variant would train from other weights
    than the file it names (random ones, without `pretrained: true`), and nothing said so."""
    if variant.get("weights_path") is None:
        return
    setting = f"train.models.{name}.weights_path"
    if not spec.reads_weights_path:
        readers = ", ".join(n for n, other in REGISTRY.items() if other.reads_weights_path)
        problem = f"architecture {spec.name} reads no weights file (a weights_path is for {readers})"
    elif variant.get("init_from") is not None:
        problem = f"init_from starts {name} from an earlier model instead"
    elif variant.get("pretrained") is not True:
        problem = f"pretrained is not true: {name} would start from random weights"
    else:
        return
    raise ConfigError(f"{setting} is set, but {problem}; set weights_path: null, or change the variant")


def _check_train_values(train: dict[str, Any]) -> None:
    """`train.target_recall` (and any domain's own), `train.image_size`, the counts: read only once training
    is done or decoding starts, and a negative count passed as none (`mix_synthetic`) or one (`workers`)."""
    count_setting(train.get("workers"), "train.workers", unset="all cores")
    count_setting(train.get("processes", 1), "train.processes")
    count_setting(train.get("mix_synthetic", 0), "train.mix_synthetic", least=0, unset="none")
    count_setting(train.get("own_threshold_min_images", 0), "train.own_threshold_min_images", least=0)
    _check_recall(train.get("target_recall", 0.99), "train.target_recall")
    for domain, recall in domain_recalls(train).items():
        _check_recall(recall, f"train.target_recall_by_domain.{domain}")
    size = train.get("image_size", 224)
    if isinstance(size, bool) or not isinstance(size, int) or size < 16:
        raise ConfigError(f"train.image_size: a side in pixels, at least 16, e.g. 224, not {size!r}")


def domain_recalls(train: dict[str, Any]) -> dict[str, Any]:
    """`train.target_recall_by_domain` by domain name as split manifests spell it: a name of digits written
    unquoted in YAML (`{2024: 0.95}`) is a number there, and is that name (`named_domain`). A `ConfigError`
    for what is no table of names."""
    by_domain = train.get("target_recall_by_domain") or {}
    if not isinstance(by_domain, dict):
        raise ConfigError(
            f"train.target_recall_by_domain: a table of domain: recall, e.g. {{cfd_tiles: 0.95}}, "
            f"not {by_domain!r}"
        )
    return {
        named_domain(domain, "train.target_recall_by_domain"): recall for domain, recall in by_domain.items()
    }


def _check_recall(recall: Any, setting: str) -> None:
    if isinstance(recall, bool) or not isinstance(recall, int | float) or not 0 < recall <= 1:
        raise ConfigError(f"{setting}: a share of the cracks in (0, 1], e.g. 0.99, not {recall!r}")


def require_both_classes(training: ImageTensors, name: str) -> None:
    """An `InputError` before crack classifier `name` trains on a split whose training images are all of one
    class: a split of clean photos alone is made for a one-class variant (ingest lets it through where
    `train.variants` lists only those), and `--pipelines=train` trains every defined variant; a classifier
    trained on one class scored F1 0, and could be promoted."""
    classes = training.labels.unique().tolist()
    if len(classes) == 1:
        label = CLASS_NAMES[classes[0]]
        raise InputError(
            f"train: {name} is a crack classifier, and the split's {len(training)} training images are all "
            f"{label!r}: it needs both classes (a split of clean photos alone trains one-class variants "
            "only, such as patch_memory; README 'A model trained without crack photos')"
        )


def one_class_ignores(train: dict[str, Any], config: TrainConfig) -> list[str]:
    """The settings asked for that a one-class model does not follow: it is fitted in this process, in fp32
    (its checkpoint says so), so `train.processes` above 1 and `precision: bf16` went without a word."""
    ignored = [f"train.processes: {processes}"] if (processes := train.get("processes", 1)) != 1 else []
    return ignored + (["precision: bf16"] if config.precision == "bf16" else [])


def resume_state_path(train: dict[str, Any], variant: str) -> Path | None:
    """Where `variant`'s per-epoch resume state is kept (`train.resume_dir`; None without one)."""
    return Path(train["resume_dir"]) / f"{variant}.pt" if train.get("resume_dir") else None


def warn_of_domains_at_the_pooled_threshold(
    name: str, threshold: dict[str, Any], recalls: dict[str, Any], fewest_for_own: int
) -> None:
    """Warnings for the domains of a model's `threshold` decided at the pooled one: with cracks in validation
    but fewer than `fewest_for_own` images of a class there (`threshold_on_validation`'s `pooled_for`), or
    named in `train.target_recall_by_domain` (`recalls`) without a threshold of their own."""
    for domain, count in threshold.get("pooled_for", {}).items():
        if count["crack"]:  # a domain of clean images alone has no recall to choose a threshold for
            logger.warning(
                "train: %s: domain %s has %d crack and %d clean validation images, fewer than "
                "train.own_threshold_min_images (%d) of each: its images are decided at the pooled "
                "threshold; label more of %s for one of its own",
                name,
                domain,
                count["crack"],
                count["clean"],
                fewest_for_own,
                domain,
            )
    if unknown := sorted(set(recalls) - set(threshold.get("per_domain", {}))):
        logger.warning(
            "train: train.target_recall_by_domain names %s, which %s no threshold of its own here (a domain "
            "with train.own_threshold_min_images validation images of each class has one: %s)",
            ", ".join(unknown),
            "has" if len(unknown) == 1 else "have",
            ", ".join(threshold.get("per_domain", {})) or _why_none_has_one(threshold),
        )


def _why_none_has_one(threshold: dict[str, Any]) -> str:
    """Why no domain of a model has a threshold of its own: one domain alone, or, of several, each with too
    few validation images (a model of several was said to be of "one domain alone")."""
    return "none, one domain alone" if "per_domain" not in threshold else "none, each has fewer"
