"""Settings are checked before a run's first node: a typo in a late stage costs no early stage's work."""

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
        "explain.crack_masks.foo: unknown setting (a typo?); segmenter.steps: Input "
        "should be a valid integer, unable to parse string as an integer (got 'many'); train.defaults + "
        "train.models.small_cnn.training.learning_rate: unknown setting (a typo?)"
    ) in result.output
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
    assert "Error: bad settings: retrain.forse: unknown setting (a typo?)" in retrain.output
    assert not (kedro_project / "data/retrain.lock").exists(), "stopped before taking the retrain lock"


def test_a_pipeline_name_that_is_none_is_named_with_those_there_are(kedro_project):
    result = kedro(kedro_project, "run", "--pipelines=retrian")
    assert result.exit_code == 1
    assert "Error: --pipelines: no pipeline 'retrian'; the project's: evaluate, " in result.output
    assert ", retrain, " in result.output and "Traceback" not in result.output


def test_only_the_settings_a_run_reads_are_checked(kedro_project):
    run_session(
        kedro_project,
        {"explain": {"crack_masks": {"foo": 1}}, "synth": {"count_per_class": 2}},
        pipeline_names=["synth"],
    )
    assert len(list((kedro_project / "data/01_raw/synthetic/images/Positive").iterdir())) == 2
