"""Nodes of the `survey` pipeline: thousands of photos explained one by one into a folder that only grows."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from collections.abc import Iterator
from typing import Any

import pandas as pd

from crack_pipeline.pipelines.explain.nodes import crack_mask_config, explanation_setup, segmenter_to_use
from crack_pipeline.pipelines.survey.progress import survey_progress_bar
from crack_pipeline.pipelines.survey.recorded_settings import as_compared, mask_settings
from crack_pipeline.vision.data.folder import Folder, ImageRef
from crack_pipeline.vision.data.image_io import ImageLimits
from crack_pipeline.vision.data.labels import LabelResolver
from crack_pipeline.vision.data.scanning import IMAGE_SUFFIXES, looks_like_image
from crack_pipeline.vision.errors import InputError, said_if_stopped
from crack_pipeline.vision.explain.artefacts import ArtefactWriter
from crack_pipeline.vision.explain.photo_explainer import PhotoExplainer
from crack_pipeline.vision.explain.scales import check_rescaled, own_scales, scales_of
from crack_pipeline.vision.explain.skeleton import SPUR_WIDTHS
from crack_pipeline.vision.explain.survey import (
    MANIFEST,
    PROGRESS,
    Shard,
    merge_records,
    progress_saves,
    survey_saves,
)
from crack_pipeline.vision.explain.survey_contents import (
    NOTES,
    Content,
    content_note,
    contents_of,
    current_records,
    noted_contents,
)
from crack_pipeline.vision.explain.survey_keys import RECORDS, photo_digest, recorded_digests
from crack_pipeline.vision.explain.survey_manifest import check_manifest
from crack_pipeline.vision.models.checkpoint import unnamed_domain_note
from crack_pipeline.vision.models.device import spread_device
from crack_pipeline.vision.models.inference import views_of

logger = logging.getLogger(__name__)

# The gallery is a versioned folder inside the survey's: <survey>/gallery/<version>/gallery/index.html.
GALLERY_TO_SURVEY = "../../../"


def survey_images(explain_input: Folder | None, ingest: dict[str, Any]) -> list[ImageRef]:
    """Every image file of `explain.input_dir`, labelled where its folders name a class; the other files
    named in a warning, and an `InputError` when it holds no image file at all."""
    if explain_input is None:
        raise InputError("a survey explains a folder of photos: pass --params=explain.input_dir=DIR")
    labels = LabelResolver(ingest["label_aliases"])
    for name in explain_input.unreadable_names:
        logger.warning(
            "survey: skipped %s: the file name is not UTF-8 (shown with \\x escapes): rename it", name
        )
    images, others = [], []
    for name in explain_input.files:
        (images if looks_like_image(name) else others).append(name)
    # Passed over unsaid, a folder of a camera's HEIC or raw files started an empty survey ("0 photos")
    # that its manifest then bound to the model and settings of a run that explained nothing.
    suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
    if others:
        logger.warning(
            "survey: passed over %d file(s) not named as images (%s): %s%s",
            *(len(others), suffixes, ", ".join(others[:5]), " ..." if len(others) > 5 else ""),
        )
    if not images:
        raise InputError(f"survey: no image file in {explain_input.shown} (files ending in {suffixes})")
    return [ImageRef(name, explain_input.path_of(name), labels.label_of(name)) for name in images]


def explain_survey_photos(
    checkpoint: dict[str, Any],
    explain_input: Folder | None,
    survey_progress: Folder,
    explain: dict[str, Any],
    tiling: dict[str, Any],
    ingest: dict[str, Any],
    device: str = "cpu",
    crack_segmenter: dict[str, Any] | None = None,
    segmenter_settings: dict[str, Any] | None = None,
) -> Iterator[dict[str, bytes]]:
    """The photos of `explain.input_dir` in shard `explain.shard` ("i/N"; all without) that survey
    `explain.survey` has not done yet, explained like `explain` does, one save per photo (its files, then
    its record), with a progress bar; a killed run, started again, continues where it stopped.

    Args:
        survey_progress: the survey's folder as it is (what is done; empty when new).
        explain: `params:explain` — input_dir, survey, shard, and how to explain, as for `explain`.
        crack_segmenter: the latest crack segmenter (pipeline `segmenter`), used when `explain.segmenter`.
        segmenter_settings: `params:segmenter`, what it should have been trained with (warned of if not).
    Yields:
        The survey's manifest first when new (with its model's heatmaps through training, where recorded),
        then one `{relative path: bytes}` per photo.
    """
    shard = Shard.parse(explain.get("shard"))
    everything = survey_images(explain_input, ingest)  # explain.scales is matched to all: the survey's
    photos = [ref for ref in everything if shard.holds(ref.name)]
    own_views = views_of(checkpoint)
    checkpoint, tiles, threshold, methods = explanation_setup(checkpoint, explain, tiling)
    masks = crack_mask_config(explain)
    segmenter = segmenter_to_use(explain, crack_segmenter, segmenter_settings)
    scales = scales_of([ref.name for ref in everything], explain.get("scales"), explain.get("mm_per_pixel"))
    found = (
        json.loads(survey_progress.path_of(MANIFEST).read_bytes())
        if MANIFEST in survey_progress.files
        else None
    )
    # A survey begun before widths were read from the crest goes on at 2 d - 1: its rows stay comparable.
    crest = found is None or "crack_widths" in found
    # One begun before spurs were pruned under 3 d (skeleton.SPUR_WIDTHS) goes on pruning under 2 d.
    spurs = SPUR_WIDTHS if found is None or "crack_spurs" in found else 2.0
    wanted = _plain_json(
        {
            # By name (shards may mount it elsewhere), `..` taken; begun named `..`, given with `..` again.
            "input": ".."
            if found and found.get("input") == ".." == explain_input.root.name
            else explain_input.name,
            "model": checkpoint["variant"],
            "model_version": checkpoint.get("model_version"),
            "cam_layer": checkpoint["cam_layer"],
            "threshold": threshold["value"],
            "methods": methods,
            "target": explain.get("target", "predicted"),
            "tiling": tiling,
            **mask_settings(masks, segmenter),
            **({"crack_widths": "crest"} if crest else {}),
            **({"crack_spurs": spurs} if spurs == SPUR_WIDTHS else {}),
            "mm_per_pixel": explain.get("mm_per_pixel"),
            "severity_bands": explain.get("severity_bands"),
            # Only when not the model's own: a survey begun before the setting existed continues as it began.
            **({"test_time_views": views_of(checkpoint)} if views_of(checkpoint) != own_views else {}),
            **({"domain": checkpoint["domain"]} if checkpoint.get("domain") is not None else {}),
        }
    )
    if checkpoint.get("domain") is None and (note := unnamed_domain_note(checkpoint, "explain.domain")):
        logger.info("survey: %s", note)
    # Built first: a bad setting stops the run before a survey is started with it.
    scale, bands = explain.get("mm_per_pixel"), explain.get("severity_bands")
    measuring = {"crest": crest, "spurs": spurs}
    writer = ArtefactWriter(threshold["value"], scale, bands, masks.join_gap, scales, measuring)
    explainer = PhotoExplainer(
        checkpoint,
        methods,
        threshold["value"],
        explain.get("target", "predicted"),
        explain.get("batch_size", 32),
        tiling=tiles,
        crack_masks=masks,
        device=spread_device(device, shard.index),
        segmenter=segmenter,
        limits=ImageLimits.of(ingest),  # no scan before: the limits set decide as the photos are decoded
    )
    where = f"survey {survey_progress.root}, shard {shard}"
    kept: int | None = None  # the photos done, once the survey's records are read
    # Ctrl-C, SIGTERM: Kedro's own words ("No nodes ran") said nothing of the photos kept, nor did a stop
    # before the first photo, or while a photo was saved (outside this node).
    with said_if_stopped(lambda: kept_note(where, kept, len(photos))), contextlib.closing(explainer):
        # Compared with what each setting a manifest leaves out did then: 'follow_steps: 0 then', not 'null'.
        began, asked = as_compared(found), as_compared(wanted)
        if check_manifest(began, asked, str(survey_progress.root), champion=explain.get("model") is None):
            yield {**progress_saves(checkpoint), MANIFEST: json.dumps(wanted, indent=1).encode()}
        elif PROGRESS not in survey_progress.files and (progress := progress_saves(checkpoint)):
            yield progress  # a survey begun before its gallery showed them: its model's, added once
        records, noted, contents = recorded_and_now(survey_progress, photos)
        shard_records = [r for r in current_records(records, contents) if r["file"] in contents]
        check_rescaled(shard_records, scales, explain.get("mm_per_pixel"), str(survey_progress.root))
        run = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%fZ}_shard{shard.index}of{shard.count}"
        if note := content_note(contents, noted, records, run):
            yield note
        done = recorded_digests(survey_progress.files)
        # A survey begun before contents were recorded went by name: its photos stay done.
        todo = [
            ref
            for ref in photos
            if not {photo_digest(ref.name, contents[ref.name].sha256), photo_digest(ref.name)} & done
        ]
        replaced = {record["file"] for record in records}.intersection(ref.name for ref in todo)
        logger.info(
            "survey %s, shard %s: %d photos, %d done before, %d to explain%s",
            survey_progress.root,
            shard,
            len(photos),
            len(photos) - len(todo),
            len(todo),
            f" ({len(replaced)} of them recorded before with other content (explained or unreadable):"
            " replaced under their names)"
            if replaced
            else "",
        )
        kept = len(photos) - len(todo)
        with survey_progress_bar(len(photos), kept, f"survey {shard}") as progress:
            for save in survey_saves(explainer, writer, todo, contents):
                yield save  # saved once the run asks for the next (a photo stopped in its save is not kept)
                kept += 1
                progress.update()


def kept_note(where: str, kept: int | None, photos: int) -> str:
    """What a stopped survey (`where`) kept of its `photos`, `kept` of them (None: stopped before it read
    which are done), and how to go on. The merge is the same command's (its --env and --params name the
    survey's folder), not one written out here."""
    merge = "and with --nodes=merge_survey merges those done"
    if kept is None:
        return (
            f"{where}: stopped before its first photo, no new photo kept; the same command goes on, {merge}"
        )
    return (
        f"{where}: {kept} of {photos} photos done and kept; the same command goes on with the other "
        f"{photos - kept}, {merge}"
    )


def merge_survey(
    survey_photos: Folder, explain_input: Folder | None
) -> tuple[dict[str, bytes], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One gallery (index.html and grids), predictions table, boxes table and crack measurements table of
    everything survey `explain.survey` has explained, whichever shards did it; says what is still missing.
    """
    if MANIFEST not in survey_photos.files:
        raise InputError(
            f"survey {survey_photos.root} has explained nothing yet: run its photos first "
            "(kedro run --pipelines=survey)"
        )
    manifest = json.loads(survey_photos.path_of(MANIFEST).read_bytes())
    names = [name for name in explain_input.files if looks_like_image(name)] if explain_input else []
    every_record, _, contents = recorded_and_now(
        survey_photos, [ImageRef(name, explain_input.path_of(name)) for name in names]
    )
    records = current_records(every_record, contents)
    columns = ArtefactWriter(
        manifest["threshold"],
        manifest["mm_per_pixel"],
        manifest["severity_bands"],
        scales=own_scales(records, manifest["mm_per_pixel"]),
    ).measurement_columns
    progress = (
        json.loads(survey_photos.path_of(PROGRESS).read_bytes()) if PROGRESS in survey_photos.files else None
    )
    merged = merge_records(
        records,
        lambda name: survey_photos.path_of(name).read_bytes(),
        manifest,
        columns,
        GALLERY_TO_SURVEY,
        progress,
    )
    for name, reason in merged.skipped.items():
        logger.warning("survey: skipped %s (%s)", name, reason)
    missing = len(contents.keys() - {record["file"] for record in records})
    logger.info(
        "survey %s merged: %d photos explained, %d unreadable%s",
        survey_photos.root,
        len(records) - len(merged.skipped),
        len(merged.skipped),
        f", {missing} not yet (a shard still running or stopped: run it, then merge again)"
        if missing
        else "",
    )
    return merged.files, merged.predictions, merged.boxes, merged.measurements


def recorded_and_now(
    survey: Folder, photos: list[ImageRef]
) -> tuple[list[dict[str, Any]], dict[tuple[str, tuple[int, ...]], str], dict[str, Content]]:
    """Every record the survey's folder holds, what its records and notes say of its files' contents
    (`noted_contents`), and each of `photos`' content now (read only where not noted)."""
    records = _json_files(survey, RECORDS)
    noted = noted_contents(records, _json_files(survey, NOTES))
    return records, noted, contents_of(photos, noted)


def _json_files(survey: Folder, prefix: str) -> list[Any]:
    """The JSON files of `survey` under `prefix`, read, in name order (notes: oldest first)."""
    return [json.loads(survey.path_of(name).read_bytes()) for name in survey.files if name.startswith(prefix)]


def _plain_json(value: Any) -> Any:
    """`value` as it reads back from JSON (tuples as lists), to compare with a manifest on disk."""
    return json.loads(json.dumps(value))
