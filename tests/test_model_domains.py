"""A model trained on several domains scores a named domain's images at that domain's threshold and tiles
them at its training patch side; the pooled ones stay for images of no named domain."""

import logging

import pandas as pd
import pytest

from crack_pipeline.pipelines.explain.images import images_to_explain
from crack_pipeline.pipelines.explain.nodes import check_explain_settings, explanation_setup
from crack_pipeline.vision.data.sources import training_patch_sides
from crack_pipeline.vision.explain.tiling import TilingConfig
from crack_pipeline.vision.models.checkpoint import (
    decision_threshold,
    describe_threshold,
    for_domain,
    model_domains,
    unnamed_domain_note,
)
from crack_pipeline.vision.models.inference import with_views
from crack_pipeline.vision.settings import ConfigError


def threshold(pooled: float, **own: float) -> dict:
    chosen = {"value": pooled, "target_recall": 0.99, "chosen_on": "validation"}
    return {**chosen, "per_domain": {d: {**chosen, "value": v} for d, v in own.items()}} if own else chosen


MODEL = {
    "variant": "general",
    "test_time_views": 4,
    "patch_side": 227,
    "patch_sides": {"ozgenel": 227, "sdnet_walls": 256, "cfd_tiles": 96, "blank": 227},
    "threshold": threshold(0.2, ozgenel=0.9, sdnet_walls=0.3, cfd_tiles=0.05),
    "thresholds_by_views": {
        1: threshold(0.25, ozgenel=0.8, sdnet_walls=0.35, cfd_tiles=0.1),
        4: threshold(0.2, ozgenel=0.9, sdnet_walls=0.3, cfd_tiles=0.05),
    },
}


def test_a_named_domain_is_scored_at_its_threshold_for_every_view_count_and_tiled_at_its_patch_side():
    sdnet = for_domain(MODEL, "sdnet_walls", "evaluate_folder.domain")
    assert sdnet["domain"] == "sdnet_walls"
    assert sdnet["threshold"]["value"] == 0.3 and "per_domain" not in sdnet["threshold"]
    assert TilingConfig().at_scale_of(sdnet).tile_size == 256
    assert TilingConfig(tile_size=128).at_scale_of(sdnet).tile_size == 128, "a tile size set wins"
    chosen = decision_threshold(sdnet, None, "evaluate_folder.threshold")
    assert describe_threshold(chosen) == (
        "threshold 0.3000, the model's (recall 0.99 on sdnet_walls validation)"
    )
    assert decision_threshold(sdnet, 0.6, "evaluate_folder.threshold")["value"] == 0.6, "a threshold set wins"
    assert with_views(sdnet, 1, "evaluate_folder.test_time_views")["threshold"]["value"] == 0.35, (
        "one view: the threshold training chose for one view on that domain's validation images"
    )
    assert TilingConfig().at_scale_of(for_domain(MODEL, "cfd_tiles", "d")).tile_size == 96
    assert MODEL["threshold"]["value"] == 0.2 and MODEL["patch_side"] == 227, "the model itself unchanged"
    assert for_domain(MODEL, None, "d") is MODEL, "no domain named: pooled"


def test_a_domain_without_a_threshold_of_its_own_is_called_at_the_pooled_one():
    # No crack of "blank" in validation: no threshold of its own was chosen, as evaluation decides it.
    blank = for_domain(MODEL, "blank", "explain.domain")
    assert blank["threshold"]["value"] == 0.2 and "per_domain" not in blank["threshold"]
    assert blank["thresholds_by_views"][1]["value"] == 0.25
    # ... and the run says so: "on blank images ... recall 0.99 on validation" would read as blank's own.
    assert describe_threshold(decision_threshold(blank, None, "explain.threshold")) == (
        "threshold 0.2000, the model's (recall 0.99 on validation of every domain, none of blank's own)"
    )
    one_class = {
        **MODEL,
        "threshold": {"value": 0.7, "false_alarm_rate": 0.01, "chosen_on": "clean validation images"},
    }
    chosen = decision_threshold(for_domain(one_class, "sdnet_walls", "d"), None, "explain.threshold")
    assert chosen["source"] == (
        "the model's (false alarms 0.01 on clean validation images of every domain, "
        "none of sdnet_walls's own)"
    )
    alone = {**MODEL, "patch_sides": {"synthetic": 64}, "threshold": threshold(0.4)}  # a model of one domain
    chosen = decision_threshold(for_domain(alone, "synthetic", "d"), None, "evaluate_folder.threshold")
    assert describe_threshold(chosen) == "threshold 0.4000, the model's (recall 0.99 on synthetic validation)"


def test_an_unknown_domain_or_a_model_that_records_none_is_a_clear_error():
    with pytest.raises(
        ConfigError,
        match=r"explain\.domain: 'walls', but model general was trained on blank, cfd_tiles, ozgenel, "
        r"sdnet_walls$",
    ):
        for_domain(MODEL, "walls", "explain.domain")
    plain = {"variant": "old", "patch_side": 227, "threshold": threshold(0.2)}
    assert model_domains(plain) == []
    with pytest.raises(ConfigError, match=r"trained before its domains were recorded \(retrain it"):
        for_domain(plain, "ozgenel", "evaluate_folder.domain")


def test_a_model_trained_before_patch_sides_were_recorded_still_calls_a_domain_at_its_threshold(caplog):
    # A general model of an earlier stop: thresholds per domain, one patch side.
    older = {key: value for key, value in MODEL.items() if key != "patch_sides"}
    assert model_domains(older) == ["cfd_tiles", "ozgenel", "sdnet_walls"], "those it chose thresholds for"
    sdnet = for_domain(older, "sdnet_walls", "evaluate_folder.domain")
    assert (sdnet["threshold"]["value"], sdnet["patch_side"]) == (0.3, 227), "its threshold, the pooled side"
    assert (
        "evaluate_folder.domain: model general records no patch side per domain (trained before they were): "
        "sdnet_walls photos are called at sdnet_walls's threshold but tiled at the pooled side, 227 px"
    ) in caplog.text
    with pytest.raises(
        ConfigError, match=r"'blank', but model general was trained on cfd_tiles, ozgenel, sdnet"
    ):
        for_domain(older, "blank", "explain.domain")


def test_a_folder_meeting_a_model_of_several_domains_is_told_which_setting_names_its_own():
    note = unnamed_domain_note(MODEL, "evaluate_folder.domain")
    assert note.startswith("model general was trained on blank, cfd_tiles, ozgenel, sdnet_walls")
    assert "evaluate_folder.domain names it" in note
    assert unnamed_domain_note({**MODEL, "patch_sides": {"synthetic": 64}}, "d") is None
    assert unnamed_domain_note({"variant": "old"}, "d") is None


def test_each_domain_s_patch_side_is_the_median_of_its_training_images():
    index = pd.DataFrame(
        {
            "domain": ["a", "a", "a", "b", "b", "b"],
            "path": ["1.png", "2.png", "3.png", "1.png", "2.png", "3.png"],
            "width": [64, 64, 300, 96, 120, 96],
            "height": [64, 64, 300, 96, 80, 400],
        }
    )
    manifest = index[["domain", "path"]].assign(split=["train", "train", "val", "train", "train", "train"])
    sides = training_patch_sides(index, manifest)
    assert sides == {"patch_side": 96, "patch_sides": {"a": 64, "b": 120}}, (
        "longer sides; a's 300-px validation image is not a training patch"
    )
    none = training_patch_sides(index, manifest.assign(split="test"))
    assert none == {"patch_side": None, "patch_sides": {}}


def test_explain_and_surveys_explain_a_named_domain_s_photos_at_its_threshold_and_scale(caplog):
    caplog.set_level(logging.INFO, logger="crack_pipeline")
    model = {**MODEL, "architecture": "small_cnn"}
    settings = {"methods": ["layercam"], "domain": "cfd_tiles", "test_time_views": 1}
    _, tiles, chosen, _ = explanation_setup(model, settings, {})
    assert (tiles.tile_size, chosen["value"]) == (96, 0.1)
    assert "explain: model general (version None) on cfd_tiles images, layercam" in caplog.text
    _, tiles, chosen, _ = explanation_setup(model, {**settings, "domain": None}, {})
    assert (tiles.tile_size, chosen["value"]) == (227, 0.25), "no domain named: the pooled ones"
    with pytest.raises(ConfigError, match=r"explain\.domain: 'x', but model general was trained on"):
        explanation_setup(model, {**settings, "domain": "x"}, {})


def test_a_domain_named_by_digits_on_the_command_line_is_that_domain():
    # --params=explain.domain=2024 arrives as the number 2024; checkpoints and manifests name it "2024".
    dated = {**MODEL, "patch_sides": {"2024": 256, "ozgenel": 227}}
    dated["threshold"] = threshold(0.2, **{"2024": 0.3})
    scoped = for_domain(dated, 2024, "evaluate_folder.domain")
    assert (scoped["domain"], scoped["patch_side"], scoped["threshold"]["value"]) == ("2024", 256, 0.3)
    with pytest.raises(ConfigError, match=r"explain\.domain: a domain's name \(e\.g\. sdnet_walls\), not \["):
        for_domain(MODEL, ["sdnet_walls"], "explain.domain")
    with pytest.raises(ConfigError, match=r"explain\.domain: a domain's name"):
        check_explain_settings({"methods": ["layercam"], "domain": {"a": 1}})
    # A split of domains all named by digits reads back from CSV with numbers for names.
    manifest = pd.DataFrame(
        {
            "path": ["P/1.png", "P/2.png"],
            "domain": [2023, 2024],
            "root": ["/r2023", "/r2024"],
            "split": "test",
            "label": "crack",
            "sha256": ["1", "2"],
        }
    )
    (item,), _, domains, *_ = images_to_explain(manifest, None, {"split": "test", "domain": 2024}, {})
    assert (item.name, domains) == ("P/2.png", ["2024"])
    _, _, domains, *_ = images_to_explain(manifest, None, {"split": "test"}, {})
    assert domains == ["2023", "2024"], "as the model's thresholds and patch sides name them"


def test_a_threshold_set_to_0_wins_and_a_model_without_one_calls_at_a_half():
    # 0 is a p(crack) like any other (every image called cracked): set, it is not taken for "unset".
    chosen = decision_threshold(MODEL, 0.0, "evaluate_folder.threshold")
    assert chosen == {"value": 0.0, "source": "evaluate_folder.threshold"}
    older = decision_threshold({"variant": "old"}, None, "explain.threshold")
    assert older == {"value": 0.5, "source": "default (the model records none)"}
