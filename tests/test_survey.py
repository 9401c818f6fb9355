"""Surveys: photos explained one by one into a folder that only grows; shards that split the work exactly;
a stopped run that continues without recomputing; one merged gallery and set of tables."""

from __future__ import annotations

import gc
import html
import json
import logging
import os
import re
import shutil
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from kedro.io.core import DatasetError
from PIL import Image

from crack_pipeline.datasets import GrowingFolderDataset
from crack_pipeline.pipelines.explain.nodes import check_explain_settings
from crack_pipeline.pipelines.survey import nodes as survey_nodes
from crack_pipeline.pipelines.survey.nodes import explain_survey_photos, merge_survey
from crack_pipeline.pipelines.survey.recorded_settings import as_compared, mask_settings
from crack_pipeline.vision.data.checksums import sha256_of
from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.synthetic import SynthConfig, render_photo
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.explain import measurements, survey, survey_contents
from crack_pipeline.vision.explain.crack_masks import CrackMaskConfig
from crack_pipeline.vision.explain.crack_segmenter import SegmenterConfig, train_segmenter
from crack_pipeline.vision.explain.measurements import measure_cracks
from crack_pipeline.vision.explain.survey import MANIFEST, PROGRESS, Shard
from crack_pipeline.vision.explain.survey_keys import RECORDS, photo_key, record_name
from crack_pipeline.vision.explain.survey_manifest import check_manifest
from crack_pipeline.vision.settings import ConfigError

EXPLAIN = {"methods": ["layercam"], "threshold": 0.5, "batch_size": 16, "crack_masks": {}}
TILING = {"tile_size": 96, "overlap": 0.25, "cam_min_probability": 0.05}
INGEST = {
    "label_aliases": {"crack": ["Positive"], "no_crack": ["Negative"]},
    "min_side": 32,
    "max_pixels": 64_000_000,
}


def test_shards_cover_every_photo_exactly_once_and_keep_their_photos_as_the_folder_grows():
    names = [f"site {i % 7}/IMG_{i:04d}.jpg" for i in range(300)]
    for count in (1, 2, 3, 5):
        shards = [Shard(i, count) for i in range(count)]
        owners = [[s for s in shards if s.holds(name)] for name in names]
        assert all(len(found) == 1 for found in owners), count
        sizes = [sum(s.holds(n) for n in names) for s in shards]
        assert min(sizes) > 0.6 * len(names) / count, sizes  # a fair share each
    # A hash of the name, not a position: a photo added to the folder moves no other photo.
    assert [Shard(1, 3).holds(n) for n in names] == [Shard(1, 3).holds(n) for n in ["new.jpg", *names]][1:]
    assert Shard.parse("2/4") == Shard(2, 4) and Shard.parse(None) == Shard(0, 1)
    for bad in ("4/4", "1", "a/b", "-1/2", "1/0"):
        with pytest.raises(ConfigError, match=r"explain\.shard must be 'i/N'"):
            Shard.parse(bad)


def test_photo_keys_are_safe_file_names_unique_per_path():
    keys = {photo_key(name) for name in ("a/x.jpg", "b/x.jpg", "a/x.png", "../../etc/passwd", "<b>.jpg")}
    assert len(keys) == 5 and all(re.fullmatch(r"[A-Za-z0-9._-]+", key) for key in keys)


def test_a_growing_folder_adds_and_never_overwrites_finished_work(tmp_path, caplog):
    folder = GrowingFolderDataset(path=str(tmp_path / "survey"))
    assert folder.load().files == (), "a survey not started yet holds nothing"
    folder.save({"photos/a.png": b"pixels", "records/a.json": b"{}"})
    assert folder.load().files == ("photos/a.png", "records/a.json")
    folder.save({"photos/a.png": b"other pixels", "records/a.json": b"{}"})  # the same finished work again
    assert (tmp_path / "survey/photos/a.png").read_bytes() == b"pixels", "a finished save is not redone"
    folder.save({"records/a.json": b'{"other": 1}'})  # the same work finished twice (two runs at once)
    assert (tmp_path / "survey/records/a.json").read_bytes() == b"{}", "the first one kept"
    assert "a.json was finished already (by another run?): kept" in caplog.text
    # A save killed before its mark (the last file) left a file: the save that finishes the work replaces it.
    (tmp_path / "survey/photos/b.png").write_bytes(b"half")
    folder.save({"photos/b.png": b"whole", "records/b.json": b"{}"})
    assert (tmp_path / "survey/photos/b.png").read_bytes() == b"whole"
    with pytest.raises(DatasetError, match="plain relative path"):
        folder.save({"../escape.json": b"{}"})


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Six photos of a site (two labelled by their folder, one 'photo' that is not an image)."""
    root = tmp_path_factory.mktemp("site")
    settings = SynthConfig(image_size=96, seed=5, difficulty=0.0)
    for index, name in enumerate(["north/a.png", "north/b.png", "Positive/c.png", "Negative/d.png", "e.png"]):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        photo = render_photo(settings, 200, 260, cracks=index % 2, index=index)
        Image.fromarray(photo.image).save(root / name)
    (root / "north/broken.jpg").write_bytes(b"not a jpeg")
    return Folder.scan(root)


def untrained_segmenter() -> dict:
    """One step: these tests follow photos through a survey, not the segmenter's pixels."""
    return train_segmenter(SegmenterConfig(samples=2, steps=1, crop=32, width=4))


@pytest.fixture(scope="module")
def segmenter() -> dict:
    return untrained_segmenter()


def survey_run(
    checkpoint,
    site,
    folder,
    crack_segmenter,
    stop_after=None,
    tiling=None,
    ingest=INGEST,
    segmenter_settings=None,
    **explain,
):
    """One run of the survey's first node into `folder` (saved as Kedro would); the saves made."""
    dataset = GrowingFolderDataset(path=str(folder))
    settings = {**EXPLAIN, **explain}
    saves = explain_survey_photos(
        checkpoint,
        site,
        dataset.load(),
        settings,
        {**TILING, **(tiling or {})},
        ingest,
        "cpu",
        crack_segmenter,
        segmenter_settings,
    )
    made = []
    for save in islice(saves, stop_after):
        dataset.save(save)
        made.append(save)
    saves.close()  # a run stopped after `stop_after` saves
    return made


def merged(site, folder):
    return merge_survey(GrowingFolderDataset(path=str(folder)).load(), site)


def photos_in(saves):
    return sorted(name for save in saves for name in save if name.startswith(RECORDS))


def test_a_survey_decodes_its_photos_within_the_limits_set(trained_checkpoint, segmenter, tmp_path):
    # A 24-px photo with ingest.min_side lowered to 16 was skipped as too small under the default 32 px.
    Image.fromarray(np.full((24, 24, 3), 128, np.uint8)).save(tmp_path / "small.png")
    site = Folder.scan(tmp_path)
    for min_side, skipped in ((32, True), (16, False)):
        saves = survey_run(
            trained_checkpoint,
            site,
            tmp_path / f"survey{min_side}",
            segmenter,
            ingest={**INGEST, "min_side": min_side},
        )
        (record,) = [json.loads(save[name]) for save in saves for name in save if name.startswith(RECORDS)]
        assert ("too_small" in record.get("skipped", "")) == skipped, record
    # The merge's grids read the photo's 24-px overlay back: as the survey's own file, not as a photo under
    # the default limits (it stopped the merge: too small).
    _, predictions, _, _ = merged(site, tmp_path / "survey16")
    assert list(predictions.file) == ["small.png"]


def test_a_survey_warns_when_the_latest_segmenter_was_trained_with_other_settings(
    trained_checkpoint, segmenter, tmp_path, caplog
):
    """A survey run alone trains no segmenter: after `segmenter.steps` changed it masked with the old one
    without a word (explain warned; the survey did not)."""
    (tmp_path / "site").mkdir()
    Image.fromarray(np.full((40, 40, 3), 128, np.uint8)).save(tmp_path / "site/a.png")
    site = Folder.scan(tmp_path / "site")
    trained_with = {"samples": 2, "steps": 1, "crop": 32, "width": 4}  # untrained_segmenter's
    with caplog.at_level(logging.WARNING):
        survey_run(trained_checkpoint, site, tmp_path / "same", segmenter, segmenter_settings=trained_with)
        assert "trained with other settings" not in caplog.text
        changed = {**trained_with, "steps": 5}
        survey_run(trained_checkpoint, site, tmp_path / "changed", segmenter, segmenter_settings=changed)
    assert "steps 1, now 5" in caplog.text and "--pipelines=segmenter" in caplog.text


def test_shards_merged_equal_one_run_and_a_stopped_run_continues_without_recomputing(
    trained_checkpoint, site, segmenter, tmp_path
):
    whole = survey_run(trained_checkpoint, site, tmp_path / "whole", segmenter)
    assert MANIFEST in whole[0] and len(photos_in(whole)) == 6, "every photo, the unreadable one recorded"
    files, predictions, boxes, measurements = merged(site, tmp_path / "whole")
    # The gallery, the survey's report, names the photo it has no card of: it said nothing of it.
    page = files["index.html"].decode()
    assert "Not explained: 1 file," in page and '<span class="name">north/broken.jpg</span>: ' in page
    assert sorted(predictions.file) == [
        "Negative/d.png",
        "Positive/c.png",
        "e.png",
        "north/a.png",
        "north/b.png",
    ]
    labels = dict(zip(predictions.file, predictions.true_label, strict=True))
    assert labels["Positive/c.png"] == "crack" and labels["Negative/d.png"] == "no_crack"
    assert pd.isna(labels["e.png"])
    assert (predictions.tiles > 1).all(), "whole photos, tiled"
    called = predictions.called_by.where(predictions.predicted_label == "crack")
    assert (called.dropna() == "classifier").all() and predictions.called_by.notna().eq(called.notna()).all()
    # Records written before the segmenter could call a photo: read as the classifier's calls, boxes too.
    records = list((tmp_path / "whole" / RECORDS).glob("*.json"))
    assert len(records) == 6 and len(boxes) > 0 and (boxes.found_by == "classifier").all()
    for record in records:
        written = json.loads(record.read_text())
        for row in written.get("rows", []):
            del row["called_by"]
        for box in written.get("boxes", []):
            del box["found_by"]
        record.write_text(json.dumps(written))
    _, old_predictions, old_boxes, _ = merged(site, tmp_path / "whole")
    pd.testing.assert_frame_equal(old_predictions, predictions, check_like=True)
    pd.testing.assert_frame_equal(old_boxes, boxes, check_like=True)
    counts = measurements.groupby("file").size()  # every crack measured, one row each
    assert len(measurements) > 0 and np.isfinite(measurements.length_px).all()
    assert all(counts.get(row.file, 0) == row.cracks_count for row in predictions.itertuples())
    # The gallery links each card to its photo's files, from where the gallery is saved (a versioned folder).
    page = files["index.html"].decode()
    assert "widest width in px (no scale set: explain.mm_per_pixel): hairline up to 1 px" in page
    cards = json.loads(re.search(r"const items = (.*);\n", page).group(1))
    gallery = tmp_path / "whole/gallery/v/gallery"
    for card in cards:
        assert (gallery / card["overlay"]).resolve().is_file() and (
            gallery / card["mask"]
        ).resolve().is_file()
    assert "layercam/grid_9.png" in files

    # Two shards, each in its own process in real use: together exactly the photos, merged the same tables.
    first = survey_run(trained_checkpoint, site, tmp_path / "sharded", segmenter, shard="0/2")
    second = survey_run(trained_checkpoint, site, tmp_path / "sharded", segmenter, shard="1/2")
    assert photos_in(first) and photos_in(second) and not set(photos_in(first)) & set(photos_in(second))
    assert sorted(photos_in(first) + photos_in(second)) == photos_in(whole)
    shard_files, *shard_tables = merged(site, tmp_path / "sharded")
    for ours, theirs in zip(shard_tables, (predictions, boxes, measurements), strict=True):
        pd.testing.assert_frame_equal(ours, theirs)
    assert shard_files["index.html"] == files["index.html"]

    # Killed after the manifest and two photos: started again, it explains only the other four.
    stopped = survey_run(trained_checkpoint, site, tmp_path / "resumed", segmenter, stop_after=3)
    again = survey_run(trained_checkpoint, site, tmp_path / "resumed", segmenter)
    assert len(photos_in(stopped)) == 2 and len(photos_in(again)) == 4
    assert not set(photos_in(stopped)) & set(photos_in(again)), "nothing recomputed"
    assert survey_run(trained_checkpoint, site, tmp_path / "resumed", segmenter) == [], (
        "done: nothing left to do"
    )
    resumed_files, *resumed_tables = merged(site, tmp_path / "resumed")
    for ours, theirs in zip(resumed_tables, (predictions, boxes, measurements), strict=True):
        pd.testing.assert_frame_equal(ours, theirs)
    assert resumed_files["index.html"] == files["index.html"]

    # A survey continues only as it began.
    with pytest.raises(
        InputError, match=r"resumed was started with other settings \(explain\.threshold: 0\.5 then"
    ):
        survey_run(trained_checkpoint, site, tmp_path / "resumed", segmenter, threshold=0.7)
    with pytest.raises(InputError, match=r"other settings \(crack_segmenter\.id: '?[0-9a-f]{32}'? then, "):
        survey_run(trained_checkpoint, site, tmp_path / "resumed", untrained_segmenter())
    # the one value that differs in a section, not the whole section twice
    with pytest.raises(InputError, match=r"other settings \(tiling\.overlap: 0\.25 then, 0\.5 now\)"):
        survey_run(trained_checkpoint, site, tmp_path / "resumed", segmenter, tiling={"overlap": 0.5})
    # Begun with registered version 2, then version 5 became the champion: the way back is named.
    survey_run({**trained_checkpoint, "model_version": "2"}, site, tmp_path / "v2", segmenter, stop_after=1)
    with pytest.raises(InputError) as caught:
        survey_run({**trained_checkpoint, "model_version": "5"}, site, tmp_path / "v2", segmenter)
    assert "(model_version: '2' then, '5' now)" in str(caught.value)
    assert str(caught.value).endswith(
        "Or make the model it began with the champion again: "
        "kedro run --pipelines=set_champion --params=champion.version=2"
    )
    # A survey of a named variant (explain.model) never reads the champion: no such way back.
    with pytest.raises(InputError) as caught:
        survey_run(
            {**trained_checkpoint, "model_version": "5"}, site, tmp_path / "v2", segmenter, model="cnn"
        )
    assert "model_version: '2' then, '5' now" in str(caught.value) and "set_champion" not in str(caught.value)
    with pytest.raises(InputError, match=r"other settings \(crack_segmenter: \{id: .* then, null now"):
        survey_run(trained_checkpoint, site, tmp_path / "resumed", None, segmenter=False)
    # Begun on one domain's photos (explain.domain, a model of several), it continues only as that domain's.
    several = {**trained_checkpoint, "patch_sides": {"north": 64, "south": 96}}
    survey_run(several, site, tmp_path / "north", segmenter, stop_after=1, domain="north")
    with pytest.raises(InputError, match=r"other settings \(explain\.domain: north then, null now\)"):
        survey_run(several, site, tmp_path / "north", segmenter)


def test_a_survey_begun_before_a_default_changed_is_told_the_settings_that_go_on_with_it(
    trained_checkpoint, site, segmenter, tmp_path
):
    """crack_masks.min_length's default went 0.1 -> 0.2: every survey begun with the defaults was refused
    with the new one, told only to start another survey."""
    survey_run(
        trained_checkpoint, site, tmp_path / "s", segmenter, stop_after=2, crack_masks={"min_length": 0.1}
    )
    with pytest.raises(InputError) as refused:
        survey_run(trained_checkpoint, site, tmp_path / "s", segmenter, tiling={"overlap": 0.5})
    assert "(explain.crack_masks.min_length: 0.1 then, 0.2 now; tiling.overlap: 0.25 then, 0.5 now)" in str(
        refused.value
    )
    assert str(refused.value).endswith(
        "Or go on with it as it began, adding to the command's --params: "
        "explain.crack_masks.min_length=0.1,tiling.overlap=0.25"
    )
    assert survey_run(trained_checkpoint, site, tmp_path / "s", segmenter, crack_masks={"min_length": 0.1})
    # Another model is no setting given with --params: no such way on.
    with pytest.raises(InputError) as refused:
        survey_run({**trained_checkpoint, "model_version": "5"}, site, tmp_path / "s", segmenter)
    assert "model_version: null then, '5' now" in str(refused.value)
    assert "adding to the command's --params" not in str(refused.value)


def test_a_survey_begun_with_one_band_of_a_bound_goes_on_with_that_band_unbounded(
    trained_checkpoint, site, segmenter, tmp_path
):
    """explain.severity_bands {fine: 0.2} (--params=explain.severity_bands.fine=0.2) was allowed until it
    was refused before the run: a survey begun with it could not go on, as it began (refused before the
    run) nor otherwise (refused by its manifest), and neither refusal said so."""
    survey_run(
        trained_checkpoint, site, tmp_path / "s", segmenter, stop_after=2, severity_bands={"fine": 0.2}
    )
    with pytest.raises(ConfigError) as refused:
        check_explain_settings({"severity_bands": {"fine": 0.2}})
    assert (
        "A survey begun with it (allowed before) goes on with --params=explain.severity_bands.fine=null"
        in str(refused.value)
    )
    check_explain_settings({"severity_bands": {"fine": None}})
    with pytest.raises(InputError) as refused:
        survey_run(trained_checkpoint, site, tmp_path / "s", segmenter)
    assert "(explain.severity_bands: {fine: 0.2} then, null now)" in str(refused.value)
    assert str(refused.value).endswith(
        "Or go on with it as it began, adding to the command's --params: explain.severity_bands.fine=null"
    )
    # Every crack fine, as then: the survey goes on.
    assert photos_in(
        survey_run(trained_checkpoint, site, tmp_path / "s", segmenter, severity_bands={"fine": None})
    )
    # Another band is another severity: no such way on.
    survey_run(
        trained_checkpoint, site, tmp_path / "t", segmenter, stop_after=2, severity_bands={"fine": 0.2}
    )
    with pytest.raises(InputError) as refused:
        survey_run(trained_checkpoint, site, tmp_path / "t", segmenter, severity_bands={"wide": None})
    assert "(explain.severity_bands: {fine: 0.2} then, {wide: null} now)" in str(refused.value)
    assert "adding to the command's --params" not in str(refused.value)


def _signalled() -> None:
    """SIGTERM to this process, as a scheduler sends it (`interrupts_as_errors` raises it where the run is;
    SIGINT, Ctrl-C's, is ignored in a run started in the background, `cmd &`)."""
    import signal

    os.kill(os.getpid(), signal.SIGTERM)


def test_a_survey_stopped_by_its_user_says_what_it_kept_and_how_to_go_on(
    trained_checkpoint, site, segmenter, tmp_path, monkeypatch
):
    """Ctrl-C or SIGTERM during a survey ended on Kedro's "No nodes ran" and `the run was stopped by SIGINT`
    alone: nothing said that the photos done were kept, nor that the same command goes on. Stopped before
    its first photo (while it read which photos are done) or while a photo was saved, it still said so."""
    from crack_pipeline.run_guard import RunInterrupted, interrupts_as_errors

    folder, merge = tmp_path / "bridge", "and with --nodes=merge_survey merges those done"
    explained, read = survey_nodes.survey_saves, survey_nodes.recorded_and_now

    def stopped_run() -> str:
        with interrupts_as_errors(), pytest.raises(RunInterrupted) as stopped:
            survey_run(trained_checkpoint, site, folder, segmenter, survey="bridge")
        return str(stopped.value)

    def stopped_after_two(*args):
        yield from islice(explained(*args), 2)
        _signalled()  # in the third photo

    def stopped_reading(*args):
        _signalled()
        return read(*args)

    monkeypatch.setattr(survey_nodes, "recorded_and_now", stopped_reading)
    assert stopped_run() == (
        f"the run was stopped by SIGTERM; survey {folder}, shard 0/1: stopped before its first photo, no new "
        f"photo kept; the same command goes on, {merge}"
    )
    monkeypatch.setattr(survey_nodes, "recorded_and_now", read)
    monkeypatch.setattr(survey_nodes, "survey_saves", stopped_after_two)
    # The merge is the same command's: one written out with explain.survey alone merged the default
    # environment's survey of that name, whatever --env the survey ran in.
    assert stopped_run() == (
        f"the run was stopped by SIGTERM; survey {folder}, shard 0/1: 2 of 6 photos done and kept; the same "
        f"command goes on with the other 4, {merge}"
    )
    assert len(list((folder / RECORDS).iterdir())) == 2
    monkeypatch.setattr(survey_nodes, "survey_saves", explained)
    saving = GrowingFolderDataset.save

    def stopped_in_the_second_save(self, data):
        if any(name.startswith(RECORDS) for name in data) and len(list((folder / RECORDS).iterdir())) == 3:
            _signalled()  # the fourth photo, as its files are written
        return saving(self, data)

    monkeypatch.setattr(GrowingFolderDataset, "save", stopped_in_the_second_save)
    assert stopped_run() == (
        f"the run was stopped by SIGTERM; survey {folder}, shard 0/1: 3 of 6 photos done and kept; the same "
        f"command goes on with the other 3, {merge}"
    )
    # Stopped in Kedro's save, the node (a generator) is left at its yield, its progress bar open and the
    # catalog's "Saving data to survey_photos" lines hidden, until it is collected (the error held it).
    gc.collect()
    monkeypatch.setattr(GrowingFolderDataset, "save", saving)
    again = survey_run(trained_checkpoint, site, folder, segmenter, survey="bridge")
    assert len(photos_in(again)) == 3, "it goes on with the other three"


def test_a_photo_replaced_under_its_name_is_explained_again_and_merged_as_it_is_now(
    trained_checkpoint, site, segmenter, tmp_path, caplog, monkeypatch
):
    folder = tmp_path / "site"
    shutil.copytree(site.root, folder)
    (folder / "north/later.png").symlink_to(tmp_path / "later.png")  # on a disk not mounted yet
    first = survey_run(trained_checkpoint, Folder.scan(folder), tmp_path / "s", segmenter)
    assert len(photos_in(first)) == 7
    # Re-shot at another size, the broken file repaired, the linked one there: the other four stay done.
    photo = render_photo(SynthConfig(image_size=96, seed=9), 130, 170, cracks=1, index=0)
    Image.fromarray(photo.image).save(folder / "north/a.png")
    Image.fromarray(photo.image).save(folder / "north/broken.jpg", format="JPEG")
    Image.fromarray(photo.image).save(tmp_path / "later.png")
    with caplog.at_level(logging.INFO):
        _, waiting, *_ = merged(Folder.scan(folder), tmp_path / "s")
        assert "3 not yet" in caplog.text, "their new content waits to be explained"
        assert sorted(waiting.file) == ["Negative/d.png", "Positive/c.png", "e.png", "north/b.png"]
        again = survey_run(trained_checkpoint, Folder.scan(folder), tmp_path / "s", segmenter)
    assert [
        json.loads(save[name])["file"] for save in again for name in save if name.startswith(RECORDS)
    ] == [
        "north/a.png",
        "north/broken.jpg",
        "north/later.png",
    ]
    assert "3 to explain (3 of them recorded before with other content" in caplog.text
    # Started again, the files its records noted (name, size, times) are not read again; one touched is,
    # once: the run notes it.
    hashed = []
    monkeypatch.setattr(
        survey_contents, "sha256_of", lambda path: hashed.append(path.name) or sha256_of(path)
    )
    os.utime(folder / "north/b.png", ns=(1, 1))
    (note,) = survey_run(trained_checkpoint, Folder.scan(folder), tmp_path / "s", segmenter)
    assert [entry[0] for entry in json.loads(*note.values())] == ["north/b.png"] and hashed == ["b.png"]
    assert survey_run(trained_checkpoint, Folder.scan(folder), tmp_path / "s", segmenter) == []
    merged(Folder.scan(folder), tmp_path / "s")
    assert hashed == ["b.png"], "nor by the merge"
    monkeypatch.undo()
    _, predictions, *_ = merged(Folder.scan(folder), tmp_path / "s")
    shown = predictions.set_index("file")
    assert len(predictions) == 7 and shown.loc["north/a.png", "width"] == 170, "the photo as it is now"
    assert shown.loc["north/broken.jpg", "width"] == 170, "readable now, explained"
    assert shown.loc["north/later.png", "width"] == 170, "there now, explained"
    # Merged without the folder, the latest explanation of each photo; put back, the first one again.
    _, latest, *_ = merge_survey(GrowingFolderDataset(path=str(tmp_path / "s")).load(), None)
    pd.testing.assert_frame_equal(latest, predictions)
    shutil.copy(site.path_of("north/a.png"), folder / "north/a.png")
    _, restored, *_ = merged(Folder.scan(folder), tmp_path / "s")
    assert restored.set_index("file").loc["north/a.png", "width"] == 260

    # A survey begun before contents were recorded went by name: its photos stay done, whatever they hold.
    begun = survey_run(trained_checkpoint, Folder.scan(folder), tmp_path / "older", segmenter, stop_after=3)
    for name in photos_in(begun):
        record = json.loads((tmp_path / "older" / name).read_text())
        (tmp_path / "older" / name).unlink()
        legacy = {key: value for key, value in record.items() if key not in ("sha256", "explained_at")}
        (tmp_path / "older" / record_name(record["file"])).write_text(json.dumps(legacy))
    Image.fromarray(photo.image).save(folder / record["file"])  # changed since: still done
    rest = survey_run(trained_checkpoint, Folder.scan(folder), tmp_path / "older", segmenter)
    assert len(photos_in(rest)) == 5
    assert len(merged(Folder.scan(folder), tmp_path / "older")[1]) == 7


def test_a_survey_names_photos_with_their_letters_and_one_begun_before_goes_on_without_redoing_them(
    trained_checkpoint, segmenter, tmp_path
):
    """`Brücke.png`'s files and record were named `Br_cke_...`; now `Brücke_...`. A survey begun before
    knows its photos done by the hash in the record's name: by the whole name it explained them again."""
    folder = tmp_path / "site"
    folder.mkdir()
    for index, name in enumerate(["Brücke.png", "b.png"]):
        photo = render_photo(SynthConfig(image_size=96, seed=5), 200, 260, cracks=1, index=index)
        Image.fromarray(photo.image).save(folder / name)
    begun = survey_run(trained_checkpoint, Folder.scan(folder), tmp_path / "s", segmenter)
    named = [name for save in begun for name in save if "cke" in name]
    assert named and all("Brücke_" in name for name in named)
    for name in photos_in(begun):  # as a survey begun before named them
        (tmp_path / "s" / name).rename(tmp_path / "s" / name.replace("Brücke_", "Br_cke_"))
    assert photos_in(survey_run(trained_checkpoint, Folder.scan(folder), tmp_path / "s", segmenter)) == []
    assert sorted(merged(Folder.scan(folder), tmp_path / "s")[1]["file"]) == ["Brücke.png", "b.png"]


def test_a_survey_begun_before_cracks_were_followed_by_default_names_the_value_that_continues_it():
    """A survey's manifest leaves out a setting that does what was done before it existed: one begun before
    following was on by default was said to be begun with 'follow_steps: null', which no run can give."""
    segmenter = {"segmenter_id": "abc"}
    begun = as_compared(mask_settings(CrackMaskConfig(follow_steps=0), segmenter))
    by_default = as_compared(mask_settings(CrackMaskConfig(), segmenter))
    with pytest.raises(InputError, match=r"follow_steps: 0 then, 10 now") as refused:
        check_manifest(begun, by_default, "surveys/bridge")
    assert "follow_steps: null" not in str(refused.value)
    as_then = as_compared(mask_settings(CrackMaskConfig(follow_steps=0), segmenter))
    assert check_manifest(begun, as_then, "surveys/bridge") is False, "follow_steps=0 continues it"
    assert as_compared(None) is None


def test_the_settings_a_survey_is_told_to_go_on_with_are_taken_and_go_on_with_it():
    """Begun before cracks were followed by default, a survey was told to go on adding
    `explain.crack_masks.segmenter_reach=null` (null then: a survey records it only where cracks are
    followed), which the settings refuse: 'segmenter_reach: Input should be a valid number'."""
    from omegaconf import OmegaConf

    from crack_pipeline.pipelines.explain.nodes import crack_mask_config

    segmenter = {"segmenter_id": "abc"}
    begun = as_compared(mask_settings(CrackMaskConfig(follow_steps=0), segmenter))
    with pytest.raises(InputError) as refused:
        check_manifest(begun, as_compared(mask_settings(CrackMaskConfig(), segmenter)), "surveys/bridge")
    given = str(refused.value).split("adding to the command's --params: ")[1]
    assert "segmenter_reach" not in given
    # As Kedro reads --params, merged into the default settings.
    masks = OmegaConf.from_dotlist(given.split(","))["explain"]["crack_masks"]
    asked = crack_mask_config({"crack_masks": OmegaConf.to_container(masks)})
    assert check_manifest(begun, as_compared(mask_settings(asked, segmenter)), "surveys/bridge") is False


def test_a_survey_begun_before_the_segmenter_traced_or_found_cracks_continues_as_it_began():
    segmenter = {"segmenter_id": "0" * 32}
    recorded_then = {"id": "0" * 32, "segmenter_high": 0.5, "segmenter_low": 0.3, "segmenter_reach": 0.2}
    before = CrackMaskConfig(
        segmenter_steps=1,
        segmenter_levels=1,
        segmenter_finds=None,
        segmenter_shortest=0,
        segmenter_kept=0,
        segmenter_gap=0,
        segmenter_margin=0,
    )
    assert mask_settings(before, segmenter)["crack_segmenter"] == recorded_then
    # Nor before thin cracks that cross, branch or bend were kept: min_thinness null then.
    assert "min_thinness" not in mask_settings(CrackMaskConfig(min_thinness=None), segmenter)["crack_masks"]
    assert mask_settings(CrackMaskConfig(), segmenter)["crack_masks"]["min_thinness"] == 8.0
    # Nor before a crack's pieces were measured as one: join_gap 0 then.
    assert "join_gap" not in mask_settings(CrackMaskConfig(join_gap=0), segmenter)["crack_masks"]
    assert mask_settings(CrackMaskConfig(), segmenter)["crack_masks"]["join_gap"] == 0.2
    # Nor before specks as long and thin as a crack were left out: min_length null then.
    assert "min_length" not in mask_settings(CrackMaskConfig(min_length=None), segmenter)["crack_masks"]
    assert mask_settings(CrackMaskConfig(), segmenter)["crack_masks"]["min_length"] == 0.2
    # Nor before a crack was followed past the evidence: follow_steps 0 then.
    assert "follow_steps" not in mask_settings(CrackMaskConfig(follow_steps=0), segmenter)["crack_masks"]
    assert mask_settings(CrackMaskConfig(follow_steps=10), segmenter)["crack_masks"]["follow_steps"] == 10
    # Nor before following looked only ahead of a crack's ends: follow_angle null then, and where following
    # looks is no setting of a survey that follows nothing.
    assert mask_settings(CrackMaskConfig(follow_steps=10), segmenter)["crack_masks"]["follow_angle"] == 30
    all_round = CrackMaskConfig(follow_steps=10, follow_angle=None)
    assert "follow_angle" not in mask_settings(all_round, segmenter)["crack_masks"]
    assert "follow_angle" not in mask_settings(CrackMaskConfig(follow_steps=0), segmenter)["crack_masks"]
    # How far each step reaches (segmenter_reach) changes the masks without a segmenter too.
    following = mask_settings(CrackMaskConfig(follow_steps=10, segmenter_reach=0.3), None)["crack_masks"]
    assert following["segmenter_reach"] == 0.3
    assert "segmenter_reach" not in mask_settings(CrackMaskConfig(follow_steps=0), None)["crack_masks"]
    assert mask_settings(CrackMaskConfig(), segmenter)["crack_segmenter"] == {
        **recorded_then,
        "segmenter_steps": 10,
        "segmenter_levels": 2,
        "segmenter_finds": 0.75,
        "segmenter_shortest": 0.2,
        "segmenter_kept": 0.4,
        "segmenter_gap": 0.2,
        "segmenter_margin": 0.1,
    }


def test_a_survey_gallery_shows_its_models_heatmaps_through_training(
    trained_checkpoint, site, segmenter, tmp_path
):
    record = {
        "method": "layercam",
        "target": "crack",
        "names": ["Positive/a.jpg", "Negative/b.jpg"],
        "labels": [1, 0],
        "images": torch.full((2, 3, 32, 32), 128, dtype=torch.uint8),
        "epochs": [1, 2],
        "heatmaps": [
            torch.zeros((2, 8, 8), dtype=torch.uint8),
            torch.full((2, 8, 8), 255, dtype=torch.uint8),
        ],
        "probabilities": [[0.6, 0.4], [0.9, 0.1]],
        "pointing_game": [0.5, 1.0],
        "seconds": [0.1, 0.1],
    }
    checkpoint = {**trained_checkpoint, "cam_progress": record}
    (started,) = survey_run(checkpoint, site, tmp_path / "s", segmenter, stop_after=1)
    assert MANIFEST in started and PROGRESS in started, "saved once, with the manifest"
    assert sum(name.startswith("cam_progress/") for name in started) == 3, "two strips and the overview"
    survey_run(checkpoint, site, tmp_path / "s", segmenter)
    page = merged(site, tmp_path / "s")[0]["index.html"].decode()
    assert "pointing game by\nepoch: 1: 0.50, 2: 1.00" in page
    links = re.findall(r'href="([^"]*cam_progress/[^"]*)"', page)
    gallery = tmp_path / "s/gallery/v/gallery"
    assert len(links) == 3 and all((gallery / link).resolve().is_file() for link in links)
    # A model without a record: no section, no files.
    plain = survey_run(trained_checkpoint, site, tmp_path / "older", segmenter, stop_after=2)
    assert not any(PROGRESS in save for save in plain)
    assert "Where the model looked" not in merged(site, tmp_path / "older")[0]["index.html"].decode()
    # A survey begun before galleries showed them gets its model's once, when it continues.
    (added, *_) = survey_run(checkpoint, site, tmp_path / "older", segmenter)
    assert PROGRESS in added and MANIFEST not in added
    assert "Where the model looked" in merged(site, tmp_path / "older")[0]["index.html"].decode()
    assert not any(PROGRESS in save for save in survey_run(checkpoint, site, tmp_path / "older", segmenter))


def test_merging_a_survey_that_explained_nothing_says_so(site, tmp_path):
    with pytest.raises(InputError, match="has explained nothing yet"):
        merged(site, tmp_path / "empty")


def test_a_surveys_shards_on_a_machine_of_several_gpus_share_them(
    trained_checkpoint, site, tmp_path, monkeypatch, two_gpus
):
    used = []

    def explainer_on(*args, device, **kwargs):
        used.append(device)
        raise StopIteration  # the GPUs are pretended: nothing runs on them

    monkeypatch.setattr(survey_nodes, "PhotoExplainer", explainer_on)
    for shard in range(3):
        progress = GrowingFolderDataset(path=str(tmp_path / "s")).load()
        settings = {**EXPLAIN, "shard": f"{shard}/3", "segmenter": False}
        with pytest.raises(RuntimeError, match="StopIteration"):
            next(explain_survey_photos(trained_checkpoint, site, progress, settings, TILING, INGEST, "auto"))
    assert used == [torch.device("cuda", 0), torch.device("cuda", 1), torch.device("cuda", 0)]


def test_a_survey_needs_a_folder_of_photos(trained_checkpoint, tmp_path):
    dataset = GrowingFolderDataset(path=str(tmp_path / "s"))
    with pytest.raises(InputError, match=r"explain\.input_dir=DIR"):
        next(explain_survey_photos(trained_checkpoint, None, dataset.load(), EXPLAIN, TILING, INGEST))


def test_a_survey_gives_freed_memory_back_after_every_photo(
    trained_checkpoint, site, segmenter, tmp_path, monkeypatch
):
    """Released once each photo's record is saved, so a survey of thousands of photos stays flat."""
    saved_before_release = []
    monkeypatch.setattr(
        survey,
        "release_freed_memory",
        lambda: saved_before_release.append(len(list((tmp_path / RECORDS).glob("*.json")))),
    )
    survey_run(trained_checkpoint, site, tmp_path, segmenter)
    assert saved_before_release == [1, 2, 3, 4, 5], "after each of the 5 readable photos, once saved"


def _resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(
    survey._glibc_trim() is None or not Path("/proc/self/statm").exists(), reason="needs glibc and /proc"
)
def test_memory_freed_between_photos_goes_back_to_the_system():
    held = [np.ones(10_000) for _ in range(4_000)]  # 320 MB in blocks of the heap, not mapped apart
    del held[::2]  # half freed: holes between live blocks, which free() alone keeps
    before = _resident_bytes()
    assert survey.release_freed_memory()
    assert before - _resident_bytes() > 100e6


def test_a_survey_names_the_files_it_passes_over_and_starts_none_without_an_image(
    trained_checkpoint, tmp_path, caplog
):
    """A folder of a camera's HEIC files started an empty survey ("0 photos"), unsaid, and bound it to the
    run's model and settings; beside photos, such files were passed over unsaid."""
    (tmp_path / "site/raw").mkdir(parents=True)
    (tmp_path / "site/raw/IMG_0001.HEIC").write_bytes(b"\0" * 64)
    with pytest.raises(InputError, match="survey: no image file in .*site"):
        survey_run(trained_checkpoint, Folder.scan(tmp_path / "site"), tmp_path / "s", None, segmenter=False)
    assert not (tmp_path / "s").exists(), "no survey begun"
    assert "passed over 1 file(s) not named as images" in caplog.text and "raw/IMG_0001.HEIC" in caplog.text


def test_a_survey_takes_jpegs_named_as_windows_saves_them(tmp_path, caplog):
    """Windows saves some JPEGs as `.jfif` (`.jpe` too): a survey passed them over as not images."""
    for name in ("a.jpg", "b.JFIF", "c.jpe"):
        Image.new("RGB", (8, 8)).save(tmp_path / name, format="JPEG")
    found = survey_nodes.survey_images(Folder.scan(tmp_path), {"label_aliases": {}})
    assert [ref.name for ref in found] == ["a.jpg", "b.JFIF", "c.jpe"]
    assert "passed over" not in caplog.text


def test_a_survey_begun_otherwise_names_each_setting_as_a_user_sets_it():
    """`mm_per_pixel: 0.2 then, None now` named a key of survey.json and Python's None; the README promises
    the setting (`tiling.overlap: 0.25 then, 0.5 now`), so that the user knows what to set back."""
    found = {
        "input": "cfd",
        "model_version": "1",
        "mm_per_pixel": 0.2,
        "crack_masks": {"min_pixels": 10},
        "crack_segmenter": {"id": "a", "segmenter_high": 0.5},
        "tiling": {"overlap": 0.25},
    }
    wanted = {
        "input": "cfd2",
        "model_version": "1",
        "mm_per_pixel": None,
        "crack_masks": {"min_pixels": 12},
        "crack_segmenter": {"id": "a", "segmenter_high": 0.6},
        "tiling": {"overlap": 0.5},
    }
    with pytest.raises(InputError) as caught:
        check_manifest(found, wanted, "surveys/bridge_a")
    assert (
        "(explain.crack_masks.min_pixels: 10 then, 12 now; explain.crack_masks.segmenter_high: 0.5 then, 0.6 "
        "now; explain.input_dir (its folder's name): cfd then, cfd2 now; explain.mm_per_pixel: 0.2 then, "
        "null now; tiling.overlap: 0.25 then, 0.5 now)"
    ) in str(caught.value)


def test_a_survey_begun_otherwise_shows_each_value_as_a_user_writes_it_in_yaml():
    """`tiling.enabled: True then, False now`, `['gradcam'] then` and `{'flip': True} then`: Python's repr,
    where the user's YAML reads `true`, `[gradcam]` and `{flip: true}`."""
    found = {"tiling": {"enabled": True}, "methods": ["gradcam"], "views": {"flip": True}, "domain": "north"}
    wanted = {"tiling": {"enabled": False}, "methods": ["gradcam", "eigencam"], "views": None, "domain": "2"}
    with pytest.raises(InputError) as caught:
        check_manifest(found, wanted, "surveys/bridge_a")
    assert (
        "(explain.domain: north then, '2' now; explain.methods: [gradcam] then, [gradcam, eigencam] now; "
        "tiling.enabled: true then, false now; explain.views: {flip: true} then, null now)"
    ) in str(caught.value)


def test_a_survey_s_records_written_before_cards_recorded_their_threshold_still_merge():
    """A card written before each recorded the threshold it was called at (records of a survey begun then):
    the merge's grid caption read `card["threshold"]` and stopped with KeyError: 'threshold'."""
    from crack_pipeline.vision.data.image_io import png_bytes

    card = {
        "file": "north/a.jpg",
        "true_label": None,
        "label": "unlabelled",
        "predicted": "no_crack",
        "probability": 0.4951,
        "correct": "unknown",
        "method": "layercam",
        "overlay": "a_overlay.png",
        "panel": "a_panel.png",
        "tiles": 1,
        "boxes": [],
    }
    record = {"file": "north/a.jpg", "rows": [], "boxes": [], "cracks": [], "cards": [card]}
    manifest = {"model": "cnn", "threshold": 0.4955, "mm_per_pixel": None, "severity_bands": None}
    merged = survey.merge_records(
        [record], lambda _: png_bytes(np.zeros((8, 8, 3), np.uint8)), manifest, ["file"], "../"
    )
    assert "layercam/grid_9.png" in merged.files and b"north/a.jpg" in merged.files["index.html"]


def test_a_survey_measures_each_photo_at_its_own_scale_and_never_again_at_another(
    trained_checkpoint, site, segmenter, tmp_path
):
    names = ["Negative/d.png", "Positive/c.png", "e.png", "north/a.png", "north/b.png"]
    scales = {name: round(0.1 * (i + 1), 1) for i, name in enumerate(names)}
    # Every photo of the folder, the one that cannot be read too: it is known only once read.
    listed = "".join(f"{n},{v}\n" for n, v in {**scales, "north/broken.jpg": 1}.items())
    (tmp_path / "scales.csv").write_text("file,mm_per_pixel\n" + listed)
    table = str(tmp_path / "scales.csv")
    # Two shards: each matches the whole table, and each photo is measured at its own scale.
    for shard in ("0/2", "1/2"):
        survey_run(trained_checkpoint, site, tmp_path / "s", segmenter, scales=table, shard=shard)
    files, predictions, _, measurements = merged(site, tmp_path / "s")
    assert predictions.set_index("file").mm_per_pixel.to_dict() == scales, "the scale each was measured at"
    page = html.unescape(files["index.html"].decode())
    assert "at each photo's scale (explain.scales: 0.1 to 0.5 mm/px)" in page
    assert len(measurements) > 0
    for crack in measurements.itertuples():
        assert crack.length_mm == pytest.approx(crack.length_px * scales[crack.file])
    # A photo added with its scale is measured at it; one measured before at another is named, not left so.
    (tmp_path / "scales.csv").write_text(
        (tmp_path / "scales.csv").read_text().replace("north/a.png,0.4", "north/a.png,0.45") + "new.png,0.7\n"
    )
    with pytest.raises(InputError, match=r"1 photos explained before .* \(north/a.png: 0.4 then, 0.45 now\)"):
        for shard in ("0/2", "1/2"):
            survey_run(trained_checkpoint, site, tmp_path / "s", segmenter, scales=table, shard=shard)


@pytest.mark.parametrize(
    ("key", "argument", "now", "before"),
    [("crack_widths", "crest", True, False), ("crack_spurs", "spurs", 3, 2)],
)
def test_a_survey_begun_before_a_way_of_measuring_goes_on_measuring_as_it_began(
    trained_checkpoint, site, segmenter, tmp_path, monkeypatch, key, argument, now, before
):
    """Widths read from the crest (an even crack 1 px wider than 2 d - 1 read it), and twigs pruned under 3 d
    (2 d counted those of a ragged outline as length), came without a setting: a survey begun before
    measured its later photos otherwise than its first, and its table mixed the two."""
    measured = []

    def spied(mask, *args, **kwargs):
        if mask.size > 1:  # not the writer's first measure, of nothing, for its columns
            measured.append(kwargs.get(argument, now))
        return measure_cracks(mask, *args, **kwargs)

    monkeypatch.setattr(measurements, "measure_cracks", spied)  # what listed_cracks calls
    survey_run(trained_checkpoint, site, tmp_path / "new", segmenter, stop_after=2)
    assert key in json.loads((tmp_path / "new" / MANIFEST).read_text())
    assert measured and all(value == now for value in measured), "a new survey measures the new way"
    manifest = json.loads((tmp_path / "new" / MANIFEST).read_text())
    del manifest[key]  # as one begun before wrote it
    (tmp_path / "new" / MANIFEST).write_text(json.dumps(manifest))
    measured.clear()
    survey_run(trained_checkpoint, site, tmp_path / "new", segmenter)
    assert measured and all(value == before for value in measured), "its other photos as its first were"


def test_a_survey_s_rows_written_before_they_recorded_their_scale_say_the_survey_s():
    """Rows written before each recorded the mm a pixel it was measured at: predictions.csv left their
    `mm_per_pixel` empty beside the new photos', where the survey measured them all at its mm_per_pixel
    (and a scale table made from it stopped on those rows)."""
    manifest = {"model": "cnn", "threshold": 0.5, "mm_per_pixel": 0.2, "severity_bands": None}
    row = {"file": "a.jpg", "method": "layercam", "predicted_label": "no_crack"}
    old = {"file": "a.jpg", "rows": [row], "boxes": [], "cracks": [], "cards": []}
    new = {**old, "file": "b.jpg", "rows": [{**row, "file": "b.jpg", "mm_per_pixel": 0.2}]}
    merged = survey.merge_records([old, new], lambda _: b"", manifest, ["file"], "../")
    assert merged.predictions.set_index("file").mm_per_pixel.to_dict() == {"a.jpg": 0.2, "b.jpg": 0.2}


def test_the_input_folder_is_named_without_its_dots_where_a_user_reads_it(tmp_path):
    """explain.input_dir keeps its `..` in the catalog (a survey begun named `..` goes by it), and every
    message and record naming it said `<project>/../site` where the other folders' said `<parent>/site`."""
    from crack_pipeline.vision.data.masks import check_masks_apart
    from crack_pipeline.vision.data.scanning import scan_folder

    (tmp_path / "site/raw").mkdir(parents=True)
    (tmp_path / "project").mkdir()
    (tmp_path / "site/raw/IMG_0001.HEIC").write_bytes(b"\0" * 64)
    given = Folder.scan(tmp_path / "project/../site")
    assert ".." in str(given.root), "kept as given"
    with pytest.raises(InputError) as no_photo:
        survey_nodes.survey_images(given, INGEST)
    with pytest.raises(InputError) as one_folder:
        check_masks_apart(given, Folder.scan(tmp_path / "site"), "explain.input_dir and explain.masks_dir")
    index = scan_folder(given, {}, require_labels=False).index
    said = [str(no_photo.value), str(one_folder.value), *index.root]
    assert all(f"{tmp_path / 'site'}" in text and ".." not in text for text in said), said
