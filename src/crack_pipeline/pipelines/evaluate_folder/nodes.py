"""Nodes of the `evaluate_folder` pipeline: a trained model on any folder, without retraining: scored where
labelled, ranked for labelling where not."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from crack_pipeline.pipelines.evaluate_folder.folder_familiarity import (
    familiarity,
    familiarity_reference,
    unfamiliar_from,
)
from crack_pipeline.pipelines.evaluate_folder.site_labels import (
    check_recalibration,
    labelling_order_for,
    labelling_table,
    order_setting,
    plot_label_next,
    recalibrated,
    sheet_size,
)
from crack_pipeline.provenance import learned_among
from crack_pipeline.vision.data.folder import ImageRef
from crack_pipeline.vision.data.labels import CLASS_NAMES
from crack_pipeline.vision.data.scanning import OK
from crack_pipeline.vision.data.sources import image_files
from crack_pipeline.vision.evaluation import plots
from crack_pipeline.vision.evaluation.evaluate import (
    evaluate_probabilities,
    listed_probabilities_and_features,
)
from crack_pipeline.vision.evaluation.metrics import format_metric
from crack_pipeline.vision.explain.photos import classify_photos
from crack_pipeline.vision.explain.tiling import TilingConfig
from crack_pipeline.vision.models.checkpoint import (
    decision_threshold,
    describe_threshold,
    for_domain,
    named_domain,
    threshold_setting,
    unnamed_domain_note,
)
from crack_pipeline.vision.models.inference import views_asked, views_of, views_setting
from crack_pipeline.vision.settings import ConfigError, settings_from
from crack_pipeline.vision.transfer.familiarity import reference_distances

logger = logging.getLogger(__name__)


def check_evaluate_folder_settings(evaluate_folder: dict[str, Any]) -> None:
    """A `ConfigError` for a bad `evaluate_folder.threshold`, `.test_time_views`, `.domain`, `.label_next`,
    `.label_next_order`, `.unfamiliar_share` or `.recalibrate`, before a run starts (the node read the
    threshold only once the whole folder was scored)."""
    threshold_setting(evaluate_folder.get("threshold"), "evaluate_folder.threshold")
    views_setting(evaluate_folder.get("test_time_views"), "evaluate_folder.test_time_views")
    named_domain(evaluate_folder.get("domain"), "evaluate_folder.domain")
    sheet_size(evaluate_folder)
    order_setting(evaluate_folder)
    unfamiliar_from(evaluate_folder)
    if not isinstance(recalibrate := evaluate_folder.get("recalibrate", False), bool | None):
        raise ConfigError(f"evaluate_folder.recalibrate: true or false, not {recalibrate!r}")


def evaluate_folder(
    image_index: pd.DataFrame,
    checkpoint: dict[str, Any],
    evaluate_folder: dict[str, Any],
    tiling: dict[str, Any],
    device: str,
) -> tuple[dict, pd.DataFrame, pd.DataFrame, dict[str, Figure]]:
    """Metrics, predictions and plots of `checkpoint` on the kept images of a validated folder, and the
    unlabelled ones ranked for labelling.

    An image of at most one tile (`params:tiling`) is resized to the size the model was trained at; a
    larger one is tiled at the training scale and its p(crack) aggregated from its tiles'. An image is
    called cracked from the model's decision threshold on (`evaluate_folder.threshold` overrides it), its
    p(crack) with the model's test-time views (`evaluate_folder.test_time_views`: another count, at the
    threshold training chose for it and familiarity judged by the reference kept for that count). With
    `evaluate_folder.domain`, one of the domains the model was trained on, the folder is scored as that
    domain's images: at its threshold, tiled at its training patch side (`for_domain`).
    Images outside class folders are not scored: they are ranked, uncertain and unlike each other first
    (`vision.transfer.active`), into "label these next" and a contact sheet of the first
    `evaluate_folder.label_next` of them; in a folder found unfamiliar, typical ones first
    (`evaluate_folder.label_next_order`). Logs one summary line.
    """
    own_views = views_of(checkpoint)
    checkpoint = for_domain(checkpoint, evaluate_folder.get("domain"), "evaluate_folder.domain")
    domain = checkpoint.get("domain")  # the domain named, as for_domain reads it
    if domain is None and (note := unnamed_domain_note(checkpoint, "evaluate_folder.domain")):
        logger.info("evaluate_folder: %s", note)
    checkpoint, views = views_asked(checkpoint, evaluate_folder, "evaluate_folder")
    kept = image_index[image_index.status == OK].assign(  # CSV: "" -> NaN
        label=lambda f: f.label.fillna(""), duplicate_of=lambda f: f.duplicate_of.fillna("")
    )
    # A byte-identical copy is scored (or ranked) once, as the file it copies (the labelled one, if any), as
    # explain explains it once (the scan's summary lists them): counted twice, it weighed twice in every
    # metric and filled two places in "label these next".
    copies = kept[kept.duplicate_of != ""]
    kept = kept[kept.duplicate_of == ""]
    if evaluate_folder.get("recalibrate"):
        check_recalibration(kept.label, checkpoint)
    sheet, order = sheet_size(evaluate_folder), order_setting(evaluate_folder)  # said before any scoring
    threshold = decision_threshold(checkpoint, evaluate_folder.get("threshold"), "evaluate_folder.threshold")
    warn_from = unfamiliar_from(evaluate_folder)
    learned = learned_among(checkpoint, kept.sha256, "images of the folder", "evaluate_folder")
    # Unlabelled images get a placeholder class: only the labelled ones are scored.
    placeholder = kept.assign(label=kept.label.replace("", CLASS_NAMES[0])).set_index("path", drop=False)
    probability, features, data = listed_probabilities_and_features(checkpoint, placeholder, device=device)
    # The scan kept them, so its summary does not list them: a file changed or gone since (a folder still
    # syncing) was left out of every score and table with only a count in metrics.json.
    for path, reason in data.skipped.items():
        logger.warning("evaluate_folder: skipped %s (%s)", path, reason)
    config = settings_from(TilingConfig, tiling, "tiling").at_scale_of(checkpoint)
    large = kept[(kept.width > config.tile_size) | (kept.height > config.tile_size)]
    row = {path: i for i, path in enumerate(data.paths)}
    large = large[large.path.isin(row)]
    # Read once more whole (the pass above read them squashed to the input size).
    refs = [ImageRef(path, file) for path, file in zip(large.path, image_files(large), strict=True)]
    reference = familiarity_reference(checkpoint, own_views)
    tile_distances: list[np.ndarray] = []  # a photo cut into tiles is judged by each tile (familiarity)

    def judge_tiles(features_of_tiles: np.ndarray) -> None:
        tile_distances.append(reference_distances(reference, features_of_tiles))

    judge = judge_tiles if reference is not None else None
    tiled, tiles = classify_photos(checkpoint, refs, config, device=device, tile_features=judge)
    for path, p in tiled.items():
        probability[row[path]] = p
    logger.info(
        "evaluate_folder: model %s (version %s)%s at %d px, larger images in tiles of %d px, %s, %s",
        checkpoint["variant"],
        checkpoint.get("model_version"),
        f" on {domain} images" if domain is not None else "",
        checkpoint["input_size"],
        config.tile_size,
        views,
        describe_threshold(threshold),
    )
    labels = kept.set_index("path").label
    labelled = np.array([labels[path] != "" for path in data.paths], dtype=bool)
    metrics = {
        "folder": str(kept.root.iloc[0]),
        "variant": checkpoint["variant"],
        "model_version": checkpoint.get("model_version"),
        "checkpoint_id": checkpoint["checkpoint_id"],
        "domain": domain,
        "input_size": checkpoint["input_size"],
        "test_time_views": views_of(checkpoint),
        "threshold": threshold,
        "skipped_files": int((image_index.status != OK).sum()) + len(data.skipped),
        "copies_scored_once": len(copies),
        "tiled_images": len(tiled),
        "tiling": {**tiling, "tile_size": config.tile_size},
        "labelled_images": int(labelled.sum()),
        "unlabelled_images": int((~labelled).sum()),
        "learned_images": learned,  # how many of them the model learned from: its scores there flatter it
    }
    figures: dict[str, Figure] = {}
    predictions = pd.DataFrame(
        columns=["file", "true_label", "crack_probability", "predicted_label", "correct"]
    )
    if labelled.any():
        scored = data.subset([p for p, known in zip(data.paths, labelled, strict=True) if known])
        result = evaluate_probabilities(
            checkpoint["variant"], scored, probability[labelled], threshold["value"]
        )
        predictions, figures = result.predictions, result.figures
        metrics.update(result.metrics)
        # Of the n scored: the folder's unlabelled photos were counted too.
        log_scores(result.metrics["at_threshold"], int(sum(labelled[row[path]] for path in tiled)))
        if evaluate_folder.get("recalibrate"):
            metrics["recalibrated_threshold"] = recalibrated(
                scored, probability[labelled], checkpoint, probability
            )
    elif evaluate_folder.get("recalibrate"):
        logger.warning(
            "evaluate_folder: recalibrate asked, but no image of the folder is labelled: no threshold of its "
            "own (label some in Positive/ and Negative/: label_these_next.csv says which first)"
        )
    whole = ~np.isin(data.paths, large.path)
    metrics["unfamiliar"] = familiarity(reference, features[whole], tile_distances, warn_from)
    metrics["label_next_order"] = order = labelling_order_for(order, metrics["unfamiliar"])
    label_next = labelling_table(data, probability, features, ~labelled, threshold["value"], order)
    if len(label_next) and sheet:
        figures["label_these_next.png"] = plot_label_next(
            data, label_next.head(sheet), checkpoint["variant"], order
        )
    if len(label_next):
        logger.info(
            "evaluate_folder: %d unlabelled images ranked for labelling (label_these_next.csv), %s first: %s",
            len(label_next),
            order,
            ", ".join(label_next.file.head(3)),
        )
    if not figures:  # a plots version all the same: the newest is this run's (Kedro wrote none for no
        # figures: the newest was an earlier run's, and with none, the save failed)
        why = no_plots(len(label_next))
        logger.info("evaluate_folder: no plots (%s)", why)
        figures["no_plots.png"] = plots.plot_note(why, f"{checkpoint['variant']}: no plots this run")
    predictions["tiles"] = [tiles.get(path, 1) for path in predictions.file]
    return metrics, predictions, label_next, figures


def no_plots(unlabelled: int) -> str:
    """Why a run of `evaluate_folder` draws no plot: no labelled image, and no contact sheet."""
    sheet = (
        f"evaluate_folder.label_next is 0: no contact sheet of the {unlabelled} unlabelled images "
        "(label_these_next.csv ranks them)"
        if unlabelled
        else "no unlabelled image could be read either"
    )
    return f"no labelled image to score (none in a class folder); {sheet}"


def log_scores(m: dict[str, Any], tiled: int) -> None:
    logger.info(
        "evaluate_folder: n=%d accuracy=%.4f recall=%s precision=%.4f f1=%s roc_auc=%s tiled=%d",
        m["n"],
        m["accuracy"],
        format_metric(m["recall"]),
        m["precision"],
        format_metric(m["f1"]),
        format_metric(m["roc_auc"]),
        tiled,
    )
