"""Nodes of the `retrain` pipeline: retrain only on new data, on a split that keeps comparisons fair."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from pydantic import Field

from crack_pipeline.pipelines.explain.nodes import explain_split
from crack_pipeline.pipelines.ingest.classes import require_indexed_classes
from crack_pipeline.pipelines.segmenter.nodes import train_crack_segmenter
from crack_pipeline.pipelines.split.nodes import split_counts, split_manifest_of, strata, usable_images
from crack_pipeline.provenance import data_fingerprint, split_fingerprint
from crack_pipeline.store_check import replaced_store_warning
from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.splitting import extend_split
from crack_pipeline.vision.settings import settings_dataclass, settings_from

logger = logging.getLogger(__name__)


@settings_dataclass
class RetrainConfig:
    force: bool = False  # train even on the data the champion was trained on
    explain_sample: int | None = Field(16, ge=1)  # test images explained with the new champion (null: all)


def retrain_config(retrain: dict[str, Any] | None) -> RetrainConfig:
    """`retrain`, checked."""
    return settings_from(RetrainConfig, retrain, "retrain")


def check_for_new_data(
    image_index: pd.DataFrame,
    champion: dict[str, Any] | None,
    last_decision: dict[str, Any] | None,
    retrain: dict[str, Any],
) -> dict[str, Any]:
    """Decide whether to retrain: only on data no model has yet been trained and judged on, or with
    `retrain.force`.

    Args:
        image_index: the ingest index of the current data.
        champion: the champion's checkpoint (None before the first promotion).
        last_decision: the latest champion decision (None before the first), whose candidates were trained
            on its `data_fingerprint`: when they did not beat the champion, training again on the same data
            each night would only retry the same test until a model wins it by chance; when a person
            replaced the champion (`set_champion`), its data are judged too.
        retrain: `params:retrain` — force.
    Returns:
        The decision: both fingerprints, the champion, whether to train (`retrain`) and why. When not
        (the data fingerprint equals the champion's or the last decision's, and `retrain.force` is false),
        `message` says so and the `RetrainGuardHook` ends the run there, successfully.
    """
    kept = usable_images(image_index)
    current = data_fingerprint(kept)
    trained_on = champion["data_fingerprint"] if champion else None
    # Data whose models lost to the champion; not when they won: a champion promoted then rolled back (a
    # failed run, by its hook) is tried again. Older decisions do not record their data.
    lost = last_decision is not None and not last_decision["promote"]
    judged_on = last_decision.get("data_fingerprint") if lost else None
    decision = {
        "data_fingerprint": current,
        "images": len(kept),
        "champion": champion["variant"] if champion else None,
        "champion_checkpoint_id": champion["checkpoint_id"] if champion else None,
        "champion_data_fingerprint": trained_on,
        "champion_split_fingerprint": champion["split_fingerprint"] if champion else None,
        "last_decision_data_fingerprint": judged_on,
        "force": retrain_config(retrain).force,
        "retrain": True,
    }
    store_lost = replaced_store_warning(last_decision) if trained_on is None else None
    if store_lost:
        decision["reason"] = store_lost
    elif trained_on is None:
        decision["reason"] = "no champion yet"
    elif current not in (trained_on, judged_on):
        decision["reason"] = "the data changed since the champion was trained"
    elif decision["force"]:
        decision["reason"] = "retrain.force"
    else:
        images = f"the {len(kept)} images (data fingerprint {current[:12]})"
        if current == trained_on:
            known = f"the champion {champion['variant']} (checkpoint {champion['checkpoint_id']})"
            known += " was trained on"
        elif "set_by_hand" in last_decision:
            known = (
                f"model version {last_decision['replaced_version']} ({last_decision['replaced']}) was "
                f"trained on, which a person replaced as the champion by version "
                f"{last_decision['set_by_hand']}"
            )
        else:
            known = (
                f"the last models were trained on, and the best of them, {last_decision['candidate']}, "
                f"did not beat the champion then, {last_decision['current']} (model version "
                f"{last_decision['current_version']})"
            )
        decision["retrain"] = False
        decision["reason"] = decision["message"] = (
            f"retrain: nothing new - {images} are those {known}. "
            f"Add images, or pass --params=retrain.force=true to train anyway."
        )
    if decision["retrain"]:
        # The store's loss in full once, where it matters: compare_variants warns as it promotes uncompared.
        why = "the MLflow store lost its champion (evaluate warns)" if store_lost else decision["reason"]
        logger.info("retrain: %s; training on %d images", why, len(kept))
    return decision


def split_for_retrain(
    image_index: pd.DataFrame,
    previous_split: pd.DataFrame | None,
    retrain_decision: dict[str, Any],
    split: dict[str, Any],
    train: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The split of the current data that keeps every image of the previous split where it was.

    Earlier test images stay in test, so the new models and the champion are compared on them;
    earlier training images never reach test; only new images are split, towards `split.ratios` of all
    the images of their class.
    Every usable image is used (`split.subset_fraction` is for quick experiments, not retraining).

    Args:
        image_index: the ingest index of the current data.
        previous_split: the latest split manifest (None before the first split).
        retrain_decision: the decision of `check_for_new_data` (its champion's split, for a check).
        split: `params:split` — ratios and seed.
        train: `params:train` — its variants: an index of a class none of them trains on is refused, as the
            `split` pipeline refuses it (a run resumed here with `--from-nodes` reads the index saved before).
    Returns:
        The split manifest and the per-split class counts, as the `split` pipeline gives them.
    """
    require_indexed_classes(image_index, train)
    kept = usable_images(image_index)
    previous = pd.Series(dtype=str) if previous_split is None else previous_split.set_index("sha256")["split"]
    champion_split = retrain_decision.get("champion_split_fingerprint")
    if previous_split is not None and champion_split and split_fingerprint(previous_split) != champion_split:
        logger.warning(
            "retrain: the latest split is not the one the champion was trained on; keeping the latest one's "
            "assignments (the champion is re-evaluated on the new test split either way)"
        )
    elif previous_split is None and champion_split:
        logger.warning(
            "retrain: this environment holds no earlier split, though the champion was trained on one (its "
            "data_root changed, or its data was removed): the images are split anew, so some the champion "
            "learned from may now be test images; its re-evaluation says how many where it records them"
        )
    earlier = kept.sha256.map(previous[~previous.index.duplicated()]).fillna("")
    if previous_split is not None:
        earlier = _by_name_where_content_changed(kept, previous_split, earlier)
    assigned = extend_split(strata(kept), kept.group, earlier, ratios=split["ratios"], seed=split["seed"])
    manifest = split_manifest_of(kept, assigned)
    logger.info(
        "retrain: %d images kept their split, %d new ones split towards %s of all the images of their class",
        int((earlier != "").sum()),
        int((earlier == "").sum()),
        ", ".join(f"{name} {share:g}" for name, share in split["ratios"].items()),  # not a dict's repr
    )
    return manifest, split_counts(manifest, tests_asked=split["ratios"].get("test", 0) > 0)


def _by_name_where_content_changed(
    kept: pd.DataFrame, previous_split: pd.DataFrame, earlier: pd.Series
) -> pd.Series:
    """`earlier` (each image's split, found by content) completed by name, within its domain, for images
    whose content changed under the same name (re-exported, metadata stripped): they keep their split, so
    an earlier test image stays in test and a training image does not reach it."""
    keys = ["domain", "path"] if "domain" in previous_split.columns else ["path"]
    by_name = previous_split.drop_duplicates(keys).set_index(keys)["split"]
    names = pd.MultiIndex.from_frame(kept[keys]) if len(keys) > 1 else pd.Index(kept.path)
    found = pd.Series(by_name.reindex(names).to_numpy(), index=kept.index).fillna("")
    changed = (earlier == "") & (found != "")
    if changed.any():
        logger.warning(
            "retrain: %d image(s) changed content under the same name since the last split (e.g. %s); "
            "each keeps its split",
            int(changed.sum()),
            kept.path[changed].iloc[0],
        )
    return earlier.where(~changed, found)


def crack_segmenter_after_decision(
    segmenter: dict[str, Any], device: str, previous: dict | None, retrain_decision: dict[str, Any]
) -> dict:
    """`train_crack_segmenter`, run after the decision: a run with nothing new stops before it."""
    return train_crack_segmenter(segmenter, device, previous)


def explain_sample(
    checkpoint: dict[str, Any],
    split_manifest: pd.DataFrame,
    explain_masks: Folder | None,
    champion: dict[str, Any] | None,
    explain: dict[str, Any],
    tiling: dict[str, Any],
    ingest: dict[str, Any],
    retrain: dict[str, Any],
    device: str,
    crack_segmenter: dict[str, Any] | None = None,
) -> tuple[dict[str, bytes], pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The `explain` node on `retrain.explain_sample` images of the new test split, of every domain (each
    decided as its own: an `explain.domain` meant for explain runs neither narrows the night's sample nor
    stops it after training when the new model does not know it)."""
    settings = {**explain, "max_images": retrain_config(retrain).explain_sample, "domain": None}
    return explain_split(
        checkpoint,
        split_manifest,
        None,
        explain_masks,
        champion,
        settings,
        tiling,
        ingest,
        device,
        crack_segmenter,
    )
