"""Settings are checked before a run's first node: a typo in a late stage costs no early stage's work."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from kedro.framework.cli.utils import find_run_command

from crack_pipeline.pipelines.explain.nodes import check_explain_settings
from crack_pipeline.pipelines.train.variants import variant_setup
from crack_pipeline.setting_sources import where_set
from crack_pipeline.settings_check import unknown_settings
from crack_pipeline.vision.settings import ConfigError
from tests.conftest import kedro, run_session


def test_a_typo_in_a_late_stages_settings_stops_the_run_before_any_node_runs(kedro_project):
    result = kedro(
        kedro_project,
        "run",
        "--params=train.models.small_cnn.training.learning_rate=0.01,explain.crack_masks.foo=1,"
        "segmenter.steps=many,device=mps",
    )
    assert result.exit_code == 1
    assert (
        "Error: bad settings: device must be auto, cpu, cuda or cuda:<index>, got 'mps'; "
        "explain.crack_masks.foo: unknown setting (a typo?); explain.crack_masks's settings: window, "
    ) in result.output
    assert (
        "; segmenter.steps: Input should be a valid integer, unable to parse string as an integer "
        "(got 'many'); train.defaults + train.models.small_cnn.training.learning_rate: unknown setting "
        "(a typo?); train.defaults + train.models.small_cnn.training's settings: "
    ) in result.output
    assert ", lr, " in result.output, "the setting meant, among those there are"
    assert not (kedro_project / "data/01_raw/synthetic").exists(), "synth, the first node, never ran"

    methods = kedro(kedro_project, "run", "--params=explain.methods=[gradcamm]")
    assert "Error: bad settings: explain.methods: unknown ['gradcamm']; choose from [" in methods.output
    one_name = kedro(kedro_project, "run", "--params=explain.methods=layercam")
    assert "Error: bad settings: explain.methods: a list of names, e.g. [layercam], not 'layercam'" in (
        one_name.output
    )
    one_class = kedro(
        kedro_project,
        "run",
        "--pipelines=train",
        "--namespaces=patch_memory",
        "--params=train.models.patch_memory.pretrained=false",
    )
    assert (
        "Error: bad settings: train.models.patch_memory: a one-class model compares ImageNet features; set "
        "`pretrained: true`"
    ) in one_class.output
    assert not (kedro_project / "data/01_raw/synthetic").exists()

    retrain = kedro(kedro_project, "run", "--pipelines=retrain", "--params=retrain.forse=true")
    assert "Error: bad settings: retrain.forse: unknown setting (a typo?); retrain's settings: force" in (
        retrain.output
    )
    assert not (kedro_project / "data/retrain.lock").exists(), "stopped before taking the retrain lock"


def test_a_typo_in_any_section_a_run_reads_is_named_with_the_settings_there_are(kedro_project):
    result = kedro(
        kedro_project,
        "run",
        "--params=split.ratios.tset=0.2,evaluate.champion_metrc=recall,explain.max_image=5,"
        "train.target_recal=0.9,train.models.small_cnn.pretrianed=true,explian.methods=[gradcam]",
    )
    assert result.exit_code == 1
    for problem in (
        "explian: unknown section (a typo?); the sections: ",
        "split.ratios.tset: unknown setting (a typo?); split.ratios's settings: train, val, test",
        "evaluate.champion_metrc: unknown setting (a typo?); evaluate's settings: champion_metric, ",
        "explain.max_image: unknown setting (a typo?); explain's settings: input_dir, split, domain, ",
        "train.target_recal: unknown setting (a typo?); train's settings: variants, ",
        "train.models.small_cnn.pretrianed: unknown setting (a typo?); a variant's settings: architecture, ",
    ):
        assert problem in result.output
    assert not (kedro_project / "data/01_raw/synthetic").exists(), "synth, the first node, never ran"


def test_no_cam_method_is_refused_before_the_run():
    # Each image's predictions row, mask, measurements and gallery card are made per method: an empty list
    # ran to the end and wrote an empty predictions table and gallery.
    with pytest.raises(ConfigError, match=r"^explain\.methods: none given, so nothing would be explained"):
        check_explain_settings({"methods": []})
    check_explain_settings({"methods": ["layercam"]})


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("split", "tset", r"explain\.split: one of train, val, test, not 'tset'"),
        ("max_images", -3, r"explain\.max_images: a whole number, at least 1 \(null: all\), not -3"),
        ("max_images", 0, r"explain\.max_images: .* not 0"),
        ("batch_size", 0, r"explain\.batch_size: a whole number, at least 1, not 0"),
        ("mm_per_pixel", -0.1, r"explain\.mm_per_pixel: mm a pixel, above 0 \(null: unknown\), not -0\.1"),
        (
            "severity_bands",
            {"fine": 1.0, "hairline": 0.3, "wide": None},
            r"explain\.severity_bands must map band names to increasing upper bounds .*, got \{'fine': 1.*",
        ),
        ("severity_bands", 0.3, r"explain\.severity_bands must map band names to upper bounds, got 0\.3"),
        ("survey", "../../06_models", r"explain\.survey: a survey's name .*, not '\.\./\.\./06_models'"),
        ("survey", None, r"explain\.survey: a survey's name .*, not None"),
        ("shard", "3/2", r"explain\.shard must be 'i/N' with 0 <= i < N .*, got '3/2'"),
    ],
)
def test_explain_s_counts_and_names_are_checked_before_the_run(setting, value, message):
    """Read only when a run reached explain (after `make run`'s training): a split's typo ended it with "no
    usable image in the tset split", -3 images with numpy's error, and a survey named '../..' was written
    outside data/07_model_output/surveys/."""
    with pytest.raises(ConfigError, match=rf"^{message}$"):
        check_explain_settings({setting: value})
    check_explain_settings(
        {"split": "val", "max_images": 5, "batch_size": 8, "mm_per_pixel": 0.1, "survey": 7, "shard": "1/2"}
    )
    mm_bands = {"hairline": 0.3, "fine": 1.0, "medium": 3.0, "wide": None}
    check_explain_settings({"severity_bands": mm_bands, "mm_per_pixel": 0.2})
    check_explain_settings({"severity_bands": {"hairline": 1, "fine": 4, "wide": None}})  # in px


def test_bands_in_mm_without_a_scale_are_refused_before_the_run():
    """Without a scale widths are in px, at least 1: the example bands in mm called no crack hairline."""
    with pytest.raises(
        ConfigError,
        match=r"^explain\.severity_bands: no crack is under 1 px wide, so hairline: 0\.3 holds none: without "
        r"explain\.mm_per_pixel or explain\.scales widths are in px",
    ):
        check_explain_settings(
            {"severity_bands": {"hairline": 0.3, "fine": 1.0, "medium": 3.0, "wide": None}}
        )


def test_a_single_band_with_a_bound_is_refused_before_the_run():
    """--params=explain.severity_bands.fine=0.2, meant to change the default bands' bound, replaced them by
    that one band: every crack read "fine" and the bound 0.2 bounded nothing, without a word."""
    for scale in (None, 0.2):
        with pytest.raises(
            ConfigError,
            match=r"^explain\.severity_bands: one band, \{'fine': 0\.2\}: the last band takes every wider "
            r"crack, so every crack would be fine and its bound 0\.2 bounds nothing; give every band",
        ):
            check_explain_settings({"severity_bands": {"fine": 0.2}, "mm_per_pixel": scale})
    check_explain_settings({"severity_bands": {"any": None}})  # one band on purpose: every crack in it


def test_a_cam_layer_no_architecture_has_is_refused_before_the_run():
    for layer in ("bn2", "layer4", "features.6", None):  # EfficientNets', ResNet's, small_cnn's; the default
        check_explain_settings({"cam_layer": layer})
    with pytest.raises(
        ConfigError,
        match=r"^explain\.cam_layer: no model has a layer 'bn_2'; each one's own: small_cnn features\.6, ",
    ):
        check_explain_settings({"cam_layer": "bn_2"})
    with pytest.raises(
        ConfigError, match=r"^explain\.cam_layer: a module's dotted name, e.g. bn2, not \['bn2'\]"
    ):
        check_explain_settings({"cam_layer": ["bn2"]})


@pytest.mark.parametrize(
    ("variant", "train", "message"),
    [
        (None, {}, r"train\.models\.net: a table of settings"),
        (
            {"architecture": "resnet18", "weights_path": "resnet18-f37072fd.pth"},
            {},
            r"^train\.models\.net\.weights_path is set, but pretrained is not true: net would start from",
        ),
        (
            {"architecture": "efficientnet_lite0", "pretrained": True, "weights_path": "lite0.pth"},
            {},
            r"efficientnet_lite0 reads no weights file \(a weights_path is for squeezenet1_1, resnet18\)",
        ),
        (
            {
                "architecture": "resnet18",
                "pretrained": True,
                "init_from": "champion",
                "weights_path": "r.pth",
            },
            {},
            r"weights_path is set, but init_from starts net from an earlier model instead",
        ),
        ({"architecture": "small_cnn", "training": [1]}, {}, r"train\.models\.net: a table of settings"),
        ({"training": {}}, {}, r"train\.models\.net\.architecture: missing"),
        ({"architecture": "small_cnn", "training": False}, {}, r"train\.models\.net: a table of settings"),
        ({"architecture": "small_cnn", "training": {"augment": [1]}}, {}, r"train\.models\.net: a table of"),
        (
            {"architecture": "small_cnn"},
            {"target_recall": "0.99x"},
            r"train\.target_recall: a share .* '0\.99x'",
        ),
        ({"architecture": "small_cnn"}, {"target_recall": 99}, r"train\.target_recall: a share .*, not 99"),
        ({"architecture": "small_cnn"}, {"image_size": "224px"}, r"train\.image_size: a side in pixels"),
        (
            {"architecture": "small_cnn"},
            {"target_recall_by_domain": {"cfd_tiles": 1.5}},
            r"train\.target_recall_by_domain\.cfd_tiles: a share .*, not 1\.5",
        ),
        (
            {"architecture": "small_cnn"},
            {"target_recall_by_domain": [0.95]},
            r"train\.target_recall_by_domain: a table of domain: recall",
        ),
        # Negative counts were taken for none (mix_synthetic), one (workers), or failed once decoded.
        (
            {"architecture": "small_cnn"},
            {"workers": -1},
            r"train\.workers: a whole number, at least 1 \(null",
        ),
        (
            {"architecture": "small_cnn"},
            {"processes": 0},
            r"train\.processes: a whole number, at least 1, not 0",
        ),
        (
            {"architecture": "small_cnn"},
            {"mix_synthetic": -1},
            r"train\.mix_synthetic: .* at least 0 .*, not -1",
        ),
        ({"architecture": "small_cnn"}, {"mix_synthetic": "300"}, r"train\.mix_synthetic: .*, not '300'"),
        (
            {"architecture": "small_cnn", "training": {"augment": {"blur": -1}}},
            {},
            r"augment\.blur is a magnitude, 0 or above \(0: off\), not -1",
        ),
    ],
)
def test_a_variant_s_settings_of_the_wrong_kind_are_named_before_the_run(variant, train, message):
    defaults = {"target_recall": 0.99, "image_size": 64, "defaults": {}}
    with pytest.raises(ConfigError, match=message):
        variant_setup("net", variant, {**defaults, **train})
    for empty in ({"training": None}, {"training": {"augment": None}}):  # no overrides (an empty YAML key)
        variant_setup("net", {"architecture": "small_cnn", **empty}, defaults)
    own = {**defaults, "target_recall_by_domain": {"cfd_tiles": 0.95, "2024": 1}}  # names a user chooses
    variant_setup("net", {"architecture": "small_cnn"}, own)
    counts = {**defaults, "workers": None, "processes": 2, "mix_synthetic": 0}  # null: all cores
    variant_setup("net", {"architecture": "small_cnn", "training": {"augment": {"blur": 0}}}, counts)


def test_a_bad_shared_training_setting_is_named_once_not_once_per_variant():
    from kedro.pipeline import Node, Pipeline

    from crack_pipeline.settings_check import check_run_settings

    models = {name: {"architecture": "small_cnn"} for name in ("a", "b", "c")}
    reads = Pipeline(
        [Node(lambda m: m, f"params:train.models.{name}", f"{name}.out", name=name) for name in models]
    )
    with pytest.raises(ConfigError) as raised:
        check_run_settings(reads, {"train": {"models": models, "image_size": -3, "target_recall": 0.99}})
    assert str(raised.value).count("train.image_size") == 1


@pytest.mark.parametrize(
    "metric", ["at_threshold.f2", "at_threshold.F1", "f1", "at_half", "at_half.f1.x", None]
)
def test_a_champion_metric_no_evaluation_has_stops_the_run_before_its_first_node(metric):
    """The comparison read it only once every variant had trained (minutes to hours), then stopped."""
    from kedro.pipeline import Node, Pipeline

    from crack_pipeline.settings_check import check_run_settings

    reads = Pipeline([Node(lambda s: s, "params:evaluate", "decision", name="compare_variants")])
    with pytest.raises(
        ConfigError, match=r"^bad settings: evaluate\.champion_metric: at_threshold\.<metric> or "
    ):
        check_run_settings(reads, {"evaluate": {"champion_metric": metric}})
    with pytest.raises(
        ConfigError, match=r"^bad settings: evaluate\.champion_higher_is_better: true or false"
    ):
        check_run_settings(
            reads, {"evaluate": {"champion_metric": "at_half.brier", "champion_higher_is_better": 0}}
        )
    for fine in (
        "at_threshold.f1",
        "at_half.roc_auc",
        "training.train_seconds",
        "per_domain.a.at_threshold.f1",
    ):
        check_run_settings(reads, {"evaluate": {"champion_metric": fine, "champion_higher_is_better": False}})


def test_known_settings_are_those_of_conf_base_where_it_lists_them():
    known = {
        "split": {"ratios": {"train": 0.7}, "seed": 1},
        "data": {"sources": [{"path": "a"}], "domain": None},
        "train": {"models": {"small_cnn": {}}, "defaults": {"lr": 1}},
    }
    assert unknown_settings(known, known) == []
    given = {
        "split": {"ratios": {"train": 0.5, "tset": 0.5}, "sede": 2},
        "data": {"sources": [{"folder": "b"}], "domain": {"any": "value"}},  # lists and free values: as given
        "train": {"models": {"my_net": {"architecture": "x"}}, "defaults": {"learning_rate": 1}},
    }
    assert unknown_settings(given, known) == [
        "split.ratios.tset: unknown setting (a typo?); split.ratios's settings: train",
        "split.sede: unknown setting (a typo?); split's settings: ratios, seed",
    ], "variants' names are the user's; train.defaults is each variant's check's"


def test_a_pipeline_name_that_is_none_is_named_with_those_there_are(kedro_project):
    result = kedro(kedro_project, "run", "--pipelines=retrian")
    assert result.exit_code == 1
    assert "Error: --pipelines: no pipeline 'retrian'; the project's: evaluate, " in result.output
    assert ", retrain, " in result.output and "Traceback" not in result.output


def test_a_filter_that_names_nothing_is_named_with_what_the_pipeline_holds(kedro_project):
    """Kedro's `ValueError` for `--namespaces`, `--nodes` or `--tags` naming nothing came with a traceback."""
    result = kedro(kedro_project, "run", "--pipelines=train", "--namespaces=squeezenet")
    assert result.exit_code == 1 and "Traceback" not in result.output
    said = "Error: --namespaces: pipeline train has no namespace 'squeezenet'; its namespaces (one a model "
    assert said in result.output
    assert ", small_cnn, squeezenet1_1 (--pipelines=train holds every variant" in result.output
    result = kedro(kedro_project, "run", "--pipelines=train", "--from-nodes=small_cnn.train_variant,trian")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "Error: --from-nodes: pipeline train has no node 'trian'; its nodes: build_split_tensors, " in (
        result.output
    )
    result = kedro(kedro_project, "run", "--pipelines=split", "--tags=nosuch")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "Error: no node of pipeline split is left after the filters given (--tags, " in result.output


def test_only_the_settings_a_run_reads_are_checked(kedro_project):
    run_session(
        kedro_project,
        {"explain": {"crack_masks": {"foo": 1}}, "synth": {"count_per_class": 2}},
        pipeline_names=["synth"],
    )
    assert len(list((kedro_project / "data/01_raw/synthetic/images/Positive").iterdir())) == 2


def test_the_packaged_command_is_the_projects_run(kedro_project, tmp_path_factory):
    """`crack-pipeline` / `python -m crack_pipeline` (pyproject's entry point): `kedro run` with the
    project's own error messages."""
    tmp_path = tmp_path_factory.mktemp("outside")
    # The command the entry point runs, its options as `kedro run`'s (in this process: the tests' budget).
    helped = CliRunner().invoke(find_run_command("crack_pipeline"), ["--help"])
    assert helped.exit_code == 0 and "--pipelines" in helped.output and "--verbose" in helped.output
    command = [sys.executable, "-m", "crack_pipeline"]
    environment = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    # -X importtime: the modules it imported, one a line of its stderr.
    wrong = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "crack_pipeline", "--pipelines=retrian"],
        cwd=kedro_project,
        env=environment,
        capture_output=True,
    )
    assert wrong.returncode == 1
    assert (
        b"Error: --pipelines: no pipeline 'retrian'; the project's: evaluate, " in wrong.stderr + wrong.stdout
    )
    imported = re.findall(rb"^import time:.*\| +([\w.]+)$", wrong.stderr, re.MULTILINE)
    assert b"crack_pipeline.pipelines" in imported and b"torch" not in imported, (
        "a mistyped name is answered before the stages (torch, 15 s of a 2-core CPU) are imported"
    )
    assert b"Add type hints to the `predict` method" not in wrong.stderr, "about kedro-mlflow's code"
    assert Path(sys.executable).with_name("crack-pipeline").exists(), "installed as a command too"
    elsewhere = subprocess.run(
        [*command, "--pipelines=split"], cwd=tmp_path, env=environment, capture_output=True
    )
    assert elsewhere.returncode == 1
    assert f"Error: {tmp_path} is in no Kedro project: run crack-pipeline from the project's".encode() in (
        elsewhere.stderr
    )


@pytest.mark.parametrize(
    ("split", "message"),
    [
        ({"ratios": {"train": 0.9, "val": 0.15, "test": 0.15}}, r"split\.ratios must sum to 1"),
        ({"ratios": {"train": 0.7, "val": 0.15, "tset": 0.15}}, r"split\.ratios has unknown splits"),
        ({"ratios": {"train": 0.7, "val": 0.15, "test": 0.15}, "subset_fraction": 1.5}, r"subset_fraction"),
        ({"ratios": {"train": 0.7, "val": 0.15, "test": 0.15}, "seed": "x"}, r"split\.seed .* not 'x'"),
    ],
)
def test_impossible_split_settings_stop_the_run_before_its_first_node(split, message):
    """from_folder trains the crack segmenter (minutes) before split_images: the ratios are checked first."""
    from kedro.pipeline import Node, Pipeline

    from crack_pipeline.settings_check import check_run_settings

    reads_split = Pipeline([Node(lambda s: s, "params:split", "manifest", name="split_images")])
    with pytest.raises(ConfigError, match=message):
        check_run_settings(reads_split, {"split": split})
    check_run_settings(reads_split, {"split": {"ratios": {"train": 0.7, "val": 0.15, "test": 0.15}}})


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        (
            {"ingest": {"group_pattern": r"^(\d+"}},
            r"ingest\.group_pattern: '\^\(\\d\+' is not a regular expression: missing \)",
        ),
        (
            {"data": {"sources": [{"domain": "walls", "path": "w", "group_pattern": "(["}]}},
            r"data\.sources\[0\]\.group_pattern: '\(\[' is not a regular expression: unterminated",
        ),
        ({"data": {"sources": [{"domain": "walls", "pth": "w"}]}}, r"data\.sources\[0\]"),
    ],
)
def test_a_group_pattern_that_is_no_regex_stops_the_run_before_its_first_node(parameters, message):
    """from_folder may train the crack segmenter (minutes) before ingest compiles the pattern."""
    from kedro.pipeline import Node, Pipeline

    from crack_pipeline.settings_check import check_run_settings

    reads = Pipeline([Node(lambda i, d: i, ["params:ingest", "params:data"], "index", name="ingest_images")])
    with pytest.raises(ConfigError, match=message):
        check_run_settings(reads, {"ingest": {}, "data": {}, **parameters})
    check_run_settings(reads, {"ingest": {"group_pattern": r"^(\d+)-"}, "data": {"sources": None}})


@pytest.mark.parametrize("threshold", [1.5, -0.1, float("nan"), "0.5x", True])
def test_a_threshold_that_is_no_probability_stops_the_run_before_its_first_node(threshold):
    """1.5 called every image clean without a word; a string failed with a raw traceback once the whole
    folder was scored (evaluate_folder) or every variant trained (explain, after `make run`'s training)."""
    from kedro.pipeline import Node, Pipeline

    from crack_pipeline.settings_check import check_run_settings

    for section in ("explain", "evaluate_folder"):
        reads = Pipeline([Node(lambda s: s, f"params:{section}", "out", name="reads")])
        probability = r"a p\(crack\) in \[0, 1\]"
        with pytest.raises(ConfigError, match=rf"^bad settings: {section}\.threshold: {probability}"):
            check_run_settings(reads, {section: {"threshold": threshold}})
        with pytest.raises(ConfigError, match=rf"^bad settings: {section}\.test_time_views: 3; one of 1, 2"):
            check_run_settings(reads, {section: {"test_time_views": 3}})
        for fine in (None, 0, 0.37, 1):
            check_run_settings(reads, {section: {"threshold": fine, "test_time_views": None}})


@pytest.mark.parametrize(
    ("section", "setting"), [("explain", "segmenter"), ("evaluate_folder", "recalibrate")]
)
def test_a_switch_given_as_text_stops_the_run_before_its_first_node(section, setting):
    """`explain.segmenter: 'no'` (any text) used the segmenter; `evaluate_folder.recalibrate: 'yes'` the
    same way, both only read once the run got there."""
    from kedro.pipeline import Node, Pipeline

    from crack_pipeline.settings_check import check_run_settings

    reads = Pipeline([Node(lambda s: s, f"params:{section}", "out", name="reads")])
    with pytest.raises(ConfigError, match=rf"{section}\.{setting}: true or false, not 'no'"):
        check_run_settings(reads, {section: {setting: "no"}})
    for fine in (True, False, None):
        check_run_settings(reads, {section: {setting: fine}})


def test_a_recall_target_for_a_domain_no_source_has_is_warned_of_before_the_run(tmp_path, caplog):
    """Said only once every variant had trained (train's own warning), hours into a general run."""
    import logging

    from kedro.pipeline import Node, Pipeline

    from crack_pipeline.settings_check import check_run_settings

    for domain in ("walls", "2024"):
        (tmp_path / domain / "Positive").mkdir(parents=True)
    reads = Pipeline([Node(lambda d, t: d, ["params:data", "params:train"], "out", name="reads")])
    sources = [
        {"domain": "walls", "path": str(tmp_path / "walls")},
        {"domain": "2024", "path": str(tmp_path / "2024")},
    ]
    train = {"target_recall": 0.99, "target_recall_by_domain": {"wals": 0.95, "walls": 0.9, 2024: 0.9}}
    with caplog.at_level(logging.WARNING, logger="crack_pipeline"):
        check_run_settings(reads, {"data": {"sources": sources}, "train": train})
    assert "train.target_recall_by_domain names wals, which no folder of data.sources has" in caplog.text
    assert "2024" not in caplog.text.split("has (")[0], "a name of digits is that name"


def test_a_default_every_variant_of_the_run_sets_itself_is_warned_of_when_changed(caplog):
    """`--params=train.defaults.epochs=1`, for a quick run, trained every variant its own epochs, silently."""
    import copy
    import logging

    from kedro.pipeline import Node, Pipeline

    from crack_pipeline.config import base_parameters
    from crack_pipeline.settings_check import check_run_settings

    base = base_parameters()
    variants = ["small_cnn", "efficientnet_lite0"]  # each sets its own epochs and lr; small_cnn its augment
    reads = Pipeline(
        [
            Node(lambda *p: 0, [f"params:train.models.{v}", "params:train"], f"{v}.out", name=v)
            for v in variants
        ]
    )
    parameters = copy.deepcopy(base)
    parameters["train"]["defaults"] |= {"epochs": 1, "batch_size": 16}
    parameters["train"]["defaults"]["augment"]["blur"] = 0.5
    with caplog.at_level(logging.WARNING, logger="crack_pipeline"):
        check_run_settings(reads, base, base)
        assert caplog.text == "", "conf/base as it is"
        check_run_settings(reads, parameters, base)
    assert (
        "train.defaults.epochs: 1 changes no variant of this run, each sets its own (efficientnet_lite0 3, "
        "small_cnn 10): set train.models.<name>.training.epochs instead"
    ) in caplog.text
    assert "batch_size" not in caplog.text and "blur" not in caplog.text, "efficientnet_lite0 takes them"


def test_a_one_class_variant_of_the_run_does_not_hide_a_default_the_classifiers_all_set(caplog):
    """`kedro run --pipelines=train` trains every variant, patch_memory too: it takes no `epochs` (fitted in
    one pass), and `--params=train.defaults.epochs=1` changed none of the classifiers without a warning."""
    import copy
    import logging

    from kedro.pipeline import Node, Pipeline

    from crack_pipeline.config import base_parameters
    from crack_pipeline.settings_check import check_run_settings

    base = base_parameters()

    def reading(*variants: str) -> Pipeline:
        return Pipeline(
            [
                Node(lambda *p: 0, [f"params:train.models.{v}", "params:train"], f"{v}.out", name=v)
                for v in variants
            ]
        )

    parameters = copy.deepcopy(base)
    parameters["train"]["defaults"]["epochs"] = 1
    with caplog.at_level(logging.WARNING, logger="crack_pipeline"):
        check_run_settings(reading("patch_memory"), parameters, base)
        assert caplog.text == "", "no classifier in the run: nothing to name"
        check_run_settings(reading("small_cnn", "patch_memory"), parameters, base)
    assert "train.defaults.epochs: 1 changes no variant of this run, each sets its own (small_cnn 10)" in (
        caplog.text
    )


def test_a_run_that_evaluates_without_test_images_stops_before_its_first_node():
    """With `split.ratios.test: 0`, every variant trained, then its evaluation failed on a missing split."""
    from kedro.pipeline import Node, Pipeline

    from crack_pipeline.settings_check import check_run_settings

    no_test = {"ratios": {"train": 0.8, "val": 0.2, "test": 0}}
    splits = Node(lambda s: s, "params:split", "split_manifest", name="split_images")
    evaluates = Node(lambda m: m, "split_manifest", "net.metrics", name="net.evaluate_variant")
    with pytest.raises(ConfigError, match=r"split\.ratios\.test must be above 0 in a run that evaluates"):
        check_run_settings(Pipeline([splits, evaluates]), {"split": no_test})
    check_run_settings(Pipeline([splits]), {"split": no_test})  # a split alone may keep no test images


def test_a_run_that_splits_and_compares_but_trains_no_variant_stops_before_its_first_node():
    """`train.variants: []` made a new split, trained nothing and failed at the comparison."""
    from kedro.pipeline import Node, Pipeline

    from crack_pipeline.settings_check import check_run_settings

    splits = Node(lambda s: s, "params:split", "split_manifest", name="split_images")
    compares = Node(lambda t, m: m, ["params:train", "split_manifest"], "decision", name="compare_variants")
    split = {"ratios": {"train": 0.7, "val": 0.15, "test": 0.15}}
    with pytest.raises(ConfigError, match=r"train\.variants: \[\] trains no model on this run's split"):
        check_run_settings(Pipeline([splits, compares]), {"split": split, "train": {"variants": []}})
    check_run_settings(Pipeline([compares]), {"train": {"variants": []}})  # comparing earlier evaluations


@pytest.mark.parametrize(
    ("segmenter", "message"),
    [
        ({"learning_rate": -0.003}, r"segmenter\.learning_rate must be above 0, got -0\.003"),
        ({"learning_rate": 0}, r"segmenter\.learning_rate must be above 0, got 0"),
        ({"crop": 8}, r"segmenter\.crop must be between 16 and 227 px, got 8"),
    ],
)
def test_crack_segmenter_settings_that_cannot_train_stop_the_run_before_its_first_node(segmenter, message):
    """A rate of 0 or below trained for minutes and left the segmenter as it began, or worse."""
    from kedro.pipeline import Node, Pipeline

    from crack_pipeline.settings_check import check_run_settings

    trains = Pipeline([Node(lambda s: s, "params:segmenter", "crack_segmenter", name="train_segmenter")])
    with pytest.raises(ConfigError, match=message):
        check_run_settings(trains, {"segmenter": segmenter})
    check_run_settings(trains, {"segmenter": {"learning_rate": 0.001}})


def test_a_bad_setting_is_named_with_the_file_or_option_that_set_it(kedro_project):
    """A project's settings are spread over a dozen files in two or more environments: the error named the
    setting, not where it was set."""
    (kedro_project / "conf/local/parameters_train.yml").write_text("train: {processes: 0}\n")
    local = kedro(kedro_project, "run", "--pipelines=train")
    assert "train.processes: a whole number, at least 1, not 0 (from conf/local/parameters_train.yml: " in (
        local.output
    )
    given = kedro(kedro_project, "run", "--pipelines=train", "--params=train.processes=-2")
    assert "not -2 (from --params: train.processes)" in given.output
    (kedro_project / "conf/staging").mkdir()
    (kedro_project / "conf/staging/parameters.yml").write_text("train: {processes: x}\n")
    staged = kedro(kedro_project, "run", "--pipelines=train", "--env=staging")
    assert "not 'x' (from conf/staging/parameters.yml: train.processes)" in staged.output


def test_where_a_setting_was_set_is_the_environment_over_base_and_a_default_is_nowhere(tmp_path):
    conf = tmp_path / "conf"
    for env, text in {
        "base": "data: {sources: [{path: a}], seed: 1}\ningest: {group_pattern: null}\n",
        "prod": "data: {seed: 2}\n",
    }.items():
        (conf / env / "parameters").mkdir(parents=True)
        (conf / env / "parameters" / "data.yml").write_text(text)
    message = "data.sources[0].path: missing; data.seed: odd; data.sources[1].path: missing; train.epochs: 0"
    assert where_set(message, conf, "prod", "base", {"train": {"epochs": 0}}) == (
        "from conf/base/parameters/data.yml: data.sources[0].path; from conf/prod/parameters/data.yml: "
        "data.seed; from --params: train.epochs"
    )
    assert where_set("data.sources[1].path: missing", conf, "prod", "base", {}) is None
    # conf/base's null is the default of a setting left unset, named by a message as an alternative only
    assert where_set("ingest.group_pattern: bad", conf, "prod", "base", {}) is None


def test_the_section_an_unknown_settings_list_names_is_not_said_where_it_was_set(tmp_path):
    """`split.ratios.tset: unknown setting (a typo?); split.ratios's settings: ...` said where the typo was
    set and where split.ratios was, conf/base, as if it were a second setting the message named."""
    conf = tmp_path / "conf"
    (conf / "base").mkdir(parents=True)
    (conf / "base/parameters.yml").write_text("split: {ratios: {train: 0.7, val: 0.15, test: 0.15}}\n")
    message = "split.ratios.tset: unknown setting (a typo?); split.ratios's settings: train, val, test"
    given = {"split": {"ratios": {"tset": 0.2}}}
    assert where_set(message, conf, "local", "base", given) == "from --params: split.ratios.tset"


def test_a_top_level_setting_a_message_begins_with_is_found_where_it_was_set(tmp_path):
    """`device: cuda:1, but torch sees 0 CUDA GPU(s)` said no source: only dotted names were looked up."""
    conf = tmp_path / "conf"
    (conf / "base").mkdir(parents=True)
    (conf / "base/parameters.yml").write_text("device: auto\ntrain: {epochs: 3}\n")
    message = "bad settings: device: cuda:1, but torch sees 0 CUDA GPU(s)"
    assert where_set(message, conf, "local", "base", {"device": "cuda:1"}) == "from --params: device"
    assert where_set("device must be auto, cpu", conf, "local", "base", {}) == (
        "from conf/base/parameters.yml: device"
    )
    assert where_set("train: a section, not a setting", conf, "local", "base", {}) is None
    assert where_set("the device: prose", conf, "local", "base", {}) is None


def test_a_value_a_settings_message_quotes_stays_on_one_line_as_yaml_reads_it():
    """A value with a line break (a pasted folder name, a pattern) was quoted over three lines, the break a
    blank line and the rest indented: `'day1\\n\\n  day2'`."""
    import yaml

    from crack_pipeline.vision.settings import as_yaml

    value = {"folder": "day1\nday2", "flip": True, "methods": ["gradcam", "a\r\nb"]}
    said = as_yaml(value)
    assert said == '{folder: "day1\\nday2", flip: true, methods: [gradcam, "a\\r\\nb"]}'
    assert yaml.safe_load(said) == value
    assert as_yaml("a: b") == "'a: b'", "quoted as YAML needs, as before"


def test_a_required_setting_left_out_is_named_at_the_entry_that_lacks_it_with_its_file(tmp_path):
    """`{path: w}` without a domain said `data.sources[1].domain: Field required (got ArgsKwargs((), {'path':
    ...}))`, pydantic's internals, and no file: the missing setting is in none."""
    from crack_pipeline.pipelines.ingest.nodes import SourceSetting
    from crack_pipeline.vision.settings import settings_from

    (tmp_path / "conf/local").mkdir(parents=True)
    (tmp_path / "conf/local/parameters_ingest.yml").write_text(
        "data:\n  sources:\n    - {domain: a, path: a}\n    - {path: w}\n"
    )
    with pytest.raises(ConfigError) as error:
        settings_from(SourceSetting, {"path": "w"}, "data.sources[1]")
    assert str(error.value) == "bad settings: data.sources[1]: domain is required, and missing"
    assert where_set(str(error.value), tmp_path / "conf", "local", "base", {}) == (
        "from conf/local/parameters_ingest.yml: data.sources[1]"
    )


def test_a_domain_name_used_twice_names_each_entry_and_its_file_before_any_node_runs(kedro_project, tmp_path):
    """`data.sources: domain names must differ; used more than once: ['walls']` named no entry and no file,
    and came once ingest ran (in the default run, after the synthetic data and the crack segmenter)."""
    walls, more = tmp_path / "walls", tmp_path / "more"
    (kedro_project / "conf/local/parameters_ingest.yml").write_text(
        f"data:\n  sources:\n    - {{domain: walls, path: {walls}}}\n    - {{domain: site, path: {walls}}}\n"
        f"    - {{domain: walls, path: {more}}}\n"
    )
    result = kedro(kedro_project, "run", "--pipelines=from_folder")
    assert result.exit_code == 1
    assert (
        "Error: bad settings: data.sources[0].domain, data.sources[2].domain: 'walls' used more than once; "
        "domain names must differ (from conf/local/parameters_ingest.yml: data.sources[0].domain, "
        "data.sources[2].domain)"
    ) in " ".join(result.output.split())


def test_a_single_folders_domain_that_is_no_plain_name_is_named_as_data_domain(kedro_project):
    """`--params=data.domain=a/b` said `data.sources[0].domain: 'a/b' is not a plain name`, an entry the run
    has none of, once ingest ran."""
    result = kedro(kedro_project, "run", "--pipelines=from_folder", "--params=data.domain=a/b")
    assert result.exit_code == 1
    assert (
        "Error: bad settings: data.domain: 'a/b' is not a plain name (letters, digits, _ . -, no '/') "
        "(from --params: data.domain)"
    ) in " ".join(result.output.split())


def test_from_folder_without_a_folder_of_ones_own_stops_before_any_node(kedro_project, tmp_path):
    """`kedro run --pipelines=from_folder` without `data.source_dir` read the default folder, the synthetic
    photos: it trained on them for minutes and could make their model the champion."""
    result = kedro(kedro_project, "run", "--pipelines=from_folder")
    assert result.exit_code == 1
    assert (
        "Error: --pipelines=from_folder trains on your own photos: give their folder with "
        "--params=data.source_dir=DIR (or several in data.sources)"
    ) in " ".join(result.output.split())
    assert "Running node" not in result.output
    given = kedro(kedro_project, "run", "--pipelines=from_folder", f"--params=data.source_dir={tmp_path}/x")
    assert given.exit_code == 1 and "trains on your own photos" not in given.output, "a folder given: read"
