"""Errors a person can read: a user's mistake stops `kedro run` with exit status 1 and a few lines naming the
file or setting and what to do (the traceback with --verbose); and `--env` selects the configuration."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import torch
import yaml
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io.core import Version

from crack_pipeline.datasets import WholeCSVDataset
from tests.conftest import image_bytes, kedro, write


def register(project: Path, checkpoint_bytes: bytes) -> str:
    """A registered version of crack-classifier, made the champion, whose stored checkpoint is these bytes."""
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    mlflow.set_experiment("registered by the test")
    with mlflow.start_run() as run:
        path = project / "checkpoint.pt"
        path.write_bytes(checkpoint_bytes)
        mlflow.log_artifact(str(path), artifact_path="checkpoint")
    if not client.search_registered_models("name='crack-classifier'"):
        client.create_registered_model("crack-classifier")
    version = client.create_model_version(
        "crack-classifier", f"{run.info.artifact_uri}/checkpoint", run_id=run.info.run_id
    )
    client.set_registered_model_alias("crack-classifier", "champion", version.version)
    return str(version.version)


def evaluate_folder(project: Path, folder: Path):
    """`kedro run --pipelines=evaluate_folder` on `folder`."""
    return kedro(project, "run", "--pipelines=evaluate_folder", f"--params=evaluate_folder.path={folder}")


def saved(checkpoint: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    return buffer.getvalue()


def test_a_missing_folder_stops_with_a_short_message_and_the_traceback_on_request(
    kedro_project, trained_checkpoint, tmp_path
):
    register(kedro_project, saved(trained_checkpoint))  # a champion: the folder is the mistake
    missing = tmp_path / "no_such_folder"
    result = evaluate_folder(kedro_project, missing)
    assert result.exit_code == 1
    assert result.output.splitlines()[-2:] == [
        f"Error: evaluate_folder_images: evaluate_folder.path: image folder '{missing}' does not exist",
        "(kedro run --verbose shows the full traceback)",
    ]
    verbose = kedro(
        kedro_project,
        "run",
        "--verbose",
        "--pipelines=evaluate_folder",
        f"--params=evaluate_folder.path={missing}",
    )
    assert verbose.exit_code == 1 and "Traceback (most recent call last)" in verbose.output


def test_evaluate_folder_without_a_folder_names_the_setting(kedro_project, trained_checkpoint):
    register(kedro_project, saved(trained_checkpoint))  # a champion: the setting is the mistake
    result = kedro(kedro_project, "run", "--pipelines=evaluate_folder")
    assert result.exit_code == 1
    assert "evaluate_folder.path is not set: pass --params=evaluate_folder.path=DIR" in result.output


def test_a_model_not_trained_yet_stops_the_run_before_the_folder_is_read(kedro_project, tmp_path):
    """evaluate_folder scanned the whole folder (minutes for 40,000 photos, and a versioned image index
    written) before it found there was no model to score it with."""
    write(tmp_path / "photos", "Positive/a.png", image_bytes())
    result = evaluate_folder(kedro_project, tmp_path / "photos")
    assert result.exit_code == 1
    (message,) = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert message.startswith("Error: evaluate_folder_model: the MLflow registry ")
    assert "has no 'champion' model of 'crack-classifier' yet" in message
    assert not (kedro_project / "data/02_intermediate/evaluate_folder").exists(), "nothing written"


def test_the_command_a_message_gives_runs_in_the_run_s_environment(kedro_project, tmp_path):
    """`--env=general` and a variant not trained there: "train it first: kedro run --pipelines=train
    --namespaces=resnet18", which, followed, trained it in `local` (mlflow.db), and the run failed again."""
    write(tmp_path / "photos", "Positive/a.png", image_bytes())
    settings = f"--params=evaluate_folder.path={tmp_path / 'photos'},evaluate_folder.model=resnet18"
    result = kedro(kedro_project, "run", "--env=general", "--pipelines=evaluate_folder", settings)
    assert result.exit_code == 1
    assert (
        "mlflow_general.db has no variant 'resnet18' of 'crack-classifier' yet: train it first: kedro run "
        in (result.output)
    )
    assert "train it first: kedro run --env=general --pipelines=train --namespaces=resnet18;" in result.output
    assert "--env=general --env" not in result.output
    # In `local` (no --env), as before.
    result = kedro(kedro_project, "run", "--pipelines=evaluate_folder", settings)
    assert "train it first: kedro run --pipelines=train --namespaces=resnet18;" in result.output


def test_a_pipeline_run_before_its_inputs_were_made_says_which_run_makes_them(kedro_project):
    result = kedro(kedro_project, "run", "--env=general", "--pipelines=split")
    assert result.exit_code == 1
    assert result.output.splitlines()[-2:] == [
        "Error: image_index: no run has made it yet; make it first: kedro run --env=general "
        "--pipelines=ingest (or from_folder, retrain)",
        "(kedro run --verbose shows the full traceback)",
    ]


def test_a_version_asked_for_that_is_not_there_stops_the_run_before_its_first_node(kedro_project):
    """A typo in --load-versions was met where the entry was loaded, after the steps before it (a variant's
    training), as Kedro's "Failed while loading data ... No such file" (a checkpoint: "train the model
    first"), and after an MLflow run was opened for it."""
    saved, typo = "2026-09-09T00.00.00.000Z", "2026-09-09T00.00.00.001Z"
    index = kedro_project / "data/02_intermediate/image_index.csv"
    WholeCSVDataset(filepath=str(index), version=Version(None, saved)).save(pd.DataFrame({"path": ["a.png"]}))
    result = kedro(kedro_project, "run", "--pipelines=split", f"--load-versions=image_index:{typo}")
    assert result.exit_code == 1
    assert result.output.splitlines()[-2] == (
        f"Error: image_index: {index} has no version '{typo}' (--load-versions); its newest: {saved}"
    )
    mlflow.set_tracking_uri(f"sqlite:///{kedro_project / 'mlflow.db'}")
    assert not mlflow.search_runs(search_all_experiments=True, output_format="list"), "no MLflow run opened"


def test_a_version_asked_for_of_an_entry_the_run_does_not_read_stops_it(kedro_project):
    """A variant's entries match any "<name>.<entry>" (catalog patterns): Kedro took a misspelt variant's,
    and the comparison read the latest evaluation instead of the version asked for, without a word."""
    result = kedro(
        kedro_project, "run", "--pipelines=evaluate", "--load-versions=smal_cnn.evaluation_metrics:2026"
    )
    assert result.exit_code == 1
    assert result.output.splitlines()[-2] == (
        "Error: --load-versions: this run reads no smal_cnn.evaluation_metrics (a typo, or another "
        "pipeline's?): no version of it would be used"
    )


def test_a_damaged_champion_names_its_version_and_file_and_how_to_recover(
    kedro_project, trained_checkpoint, tmp_path
):
    good = register(kedro_project, saved(trained_checkpoint))
    truncated = register(kedro_project, saved(trained_checkpoint)[:5000])
    write(tmp_path / "photos", "Positive/a.png", image_bytes())
    result = evaluate_folder(kedro_project, tmp_path / "photos")
    assert result.exit_code == 1 and "Traceback" not in result.output
    (message,) = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert f"crack-classifier version {truncated} (champion)" in message
    assert "checkpoint/checkpoint.pt of MLflow run" in message and "is damaged" in message
    assert "kedro run --pipelines=set_champion --params=champion.version=<N>" in message

    # The way out it names: the earlier version back as champion, then the folder is evaluated.
    rollback = kedro(kedro_project, "run", "--pipelines=set_champion", f"--params=champion.version={good}")
    assert rollback.exit_code == 0, rollback.output
    again = evaluate_folder(kedro_project, tmp_path / "photos")
    assert again.exit_code == 0, again.output
    unknown = kedro(kedro_project, "run", "--pipelines=set_champion", "--params=champion.version=99")
    assert unknown.exit_code == 1 and "crack-classifier has no version '99'" in unknown.output
    assert f"its versions: {truncated} (registered by hand), {good} (registered by hand, champion)" in (
        unknown.output
    )


def test_kedro_run_env_shapes_the_pipelines_as_kedro_env_does(kedro_project, monkeypatch):
    (kedro_project / "conf/site_b").mkdir()
    (kedro_project / "conf/site_b/parameters_train.yml").write_text(
        yaml.safe_dump({"train": {"variants": ["resnet18"]}})
    )

    def trained_variants(env: str | None) -> set[str]:
        bootstrap_project(kedro_project)
        with KedroSession.create(project_path=kedro_project, env=env) as session:
            session.load_context()
            return {node.namespace for node in pipelines["__default__"].nodes if node.namespace}

    assert trained_variants(None) == {"small_cnn", "efficientnet_lite0"}, "conf/base's selection"
    assert trained_variants("site_b") == {"resnet18"}, "--env=site_b"
    monkeypatch.setenv("KEDRO_ENV", "site_b")
    assert trained_variants(None) == {"resnet18"}, "KEDRO_ENV=site_b"


def test_pipelines_run_together_that_read_a_model_another_makes_are_refused(kedro_project):
    """`--pipelines=segmenter,explain`: nothing made explain wait for the segmenter the run trained, so it
    read the one saved before (or none). Every pipeline the project registers passes on its own."""
    from crack_pipeline.pipeline_registry import check_combined_pipelines
    from crack_pipeline.vision.errors import InputError

    bootstrap_project(kedro_project)
    with KedroSession.create(project_path=kedro_project) as session:
        session.load_context()
        for registered in pipelines.values():
            check_combined_pipelines(registered)
        together = pipelines["segmenter"] + pipelines["explain"]
    with pytest.raises(InputError, match=r"makes crack_segmenter and reads the one saved before it"):
        check_combined_pipelines(together)


def test_a_user_error_in_a_node_is_said_once_and_a_bug_keeps_the_node_s_name(caplog):
    """Kedro logged `Node explain_split: explain_split([explain_model;split_manifest;...]) -> [...] failed
    with error:` and the message, which the run then ended with again (`Error: ...`)."""
    from kedro.pipeline import node

    from crack_pipeline.cli import node_failures_said_once
    from crack_pipeline.vision.errors import InputError

    def no_usable_image():
        raise InputError("explain: no usable image in the folder /photos")

    def a_bug():
        raise ZeroDivisionError("division by zero")

    with node_failures_said_once():
        for failing in (no_usable_image, a_bug):
            with pytest.raises((InputError, ZeroDivisionError)):
                node(failing, None, "out", name=failing.__name__).run()
    failures = [
        record.getMessage() for record in caplog.records if "failed with error" in record.getMessage()
    ]
    assert len(failures) == 1 and failures[0].startswith("Node a_bug: a_bug(None) -> [out] failed")
    assert "no usable image" not in caplog.text


def test_a_moved_project_stops_naming_the_folder_its_store_keeps_files_in(kedro_project, tmp_path):
    """mlflow.db records its experiment's artefact folder whole: a project moved from /old kept writing its
    runs' files to /old/mlruns (made anew outside the project), and read the champion as `Failed to download
    artifacts from path 'checkpoint.pt'`."""
    old = tmp_path / "old_place"
    client = mlflow.MlflowClient(f"sqlite:///{kedro_project / 'mlflow.db'}")
    client.create_run(client.create_experiment("crack_pipeline", artifact_location=(old / "mlruns").as_uri()))
    result = kedro(kedro_project, "run", "--pipelines=synth")
    assert result.exit_code == 1
    (message,) = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert f"in {old / 'mlruns'}, which does not exist: was the project moved from {old}?" in message
    assert f"ln -s {kedro_project} {old}" in message
    assert not old.exists() and not (kedro_project / "data/01_raw/synthetic").exists(), "nothing written"


def test_a_copied_project_stops_before_writing_into_the_original_s_mlruns(kedro_project, tmp_path):
    """cp -r project variant: the copy's mlflow.db kept the original's artefact folder, which exists, and the
    copy's runs wrote their files (checkpoints, registered models) into the original's mlruns/ silently."""
    original = tmp_path / "original"
    (original / "mlruns").mkdir(parents=True)
    shutil.copy(kedro_project / "pyproject.toml", original)
    mlflow.MlflowClient(f"sqlite:///{kedro_project / 'mlflow.db'}").create_experiment(
        "crack_pipeline", artifact_location=(original / "mlruns").as_uri()
    )
    shutil.copy(kedro_project / "mlflow.db", original)  # the original's store, the project's a copy of it
    result = kedro(kedro_project, "run", "--pipelines=synth")
    assert result.exit_code == 1
    (message,) = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert f"inside another project, {original}: was this project ({kedro_project}) copied" in message
    assert list((original / "mlruns").iterdir()) == [], "nothing written there"
    assert not (kedro_project / "data/01_raw/synthetic").exists()


def test_an_environment_with_no_folder_is_named(kedro_project, monkeypatch):
    """`--env=ozgnel` (or KEDRO_ENV=ozgnel): kedro-mlflow found no mlflow.yml and the run stopped on a page of
    MLflow's traceback about a file store in mlruns/, naming no environment."""
    missing = kedro_project / "conf/ozgnel"
    expected = f"Error: environment 'ozgnel' (--env or KEDRO_ENV): there is no {missing}"
    for args, env in ((["--env=ozgnel"], None), ([], "ozgnel")):
        if env:
            monkeypatch.setenv("KEDRO_ENV", env)
        result = kedro(kedro_project, "run", "--pipelines=synth", *args)
        assert result.exit_code == 1
        (message,) = [line for line in result.output.splitlines() if line.startswith("Error: ")]
        assert message == f"{expected}; the project's: general, local, ozgenel"
    assert not (kedro_project / "mlruns").exists(), "no MLflow store made where there is none"


def test_a_champion_whose_files_are_gone_names_their_folder_and_the_ways_on(kedro_project, tmp_path):
    """mlruns/ deleted (mlflow.db kept): every run that read the champion stopped on MLflow's `Failed to
    download artifacts from path 'checkpoint.pt'`, naming neither the folder nor a way on."""
    from crack_pipeline.store_check import local_path

    version = register(kedro_project, b"never read")
    run_id = mlflow.MlflowClient().get_model_version("crack-classifier", version).run_id
    folder = local_path(mlflow.MlflowClient().get_run(run_id).info.artifact_uri)
    shutil.rmtree(folder)
    write(tmp_path / "photos", "Positive/a.png", image_bytes())
    result = evaluate_folder(kedro_project, tmp_path / "photos")
    assert result.exit_code == 1
    (message,) = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert f"crack-classifier version {version} (champion): its checkpoint cannot be read" in message
    assert f"its run's files were in {folder}, which does not exist: mlruns/ deleted or moved?" in message
    assert "kedro run --pipelines=set_champion --params=champion.version=<N>" in message


def test_prune_models_in_a_moved_project_removes_nothing(kedro_project, tmp_path):
    """`kedro prune --models` in a moved project looked for the runs' files under the old folder, found
    none (0.0 kB), and removed the registry entries and runs, leaving their files in mlruns/ for good."""
    old = tmp_path / "old_place"
    client = mlflow.MlflowClient(f"sqlite:///{kedro_project / 'mlflow.db'}")
    client.create_run(client.create_experiment("crack_pipeline", artifact_location=(old / "mlruns").as_uri()))
    result = kedro(kedro_project, "prune", "--keep", "1", "--models", "--yes")
    assert result.exit_code == 1
    assert f"in {old / 'mlruns'}, which does not exist: was the project moved from {old}?" in result.output
    assert result.output.rstrip().endswith("nothing removed")


def test_an_artefact_root_set_in_mlflow_yml_to_a_new_folder_is_not_taken_for_a_missing_one(
    kedro_project, tmp_path
):
    """mlflow.yml's artifact_location set to a folder not made yet (MLflow makes it with a run's first
    files) was refused before the first run: `… which does not exist, nor does …: … not mounted?`."""
    root = tmp_path / "storage" / "crack" / "artifacts"
    settings = kedro_project / "conf/base/mlflow.yml"
    settings.write_text(settings.read_text().replace("artifact_location: null", f"artifact_location: {root}"))
    tiny = "synth.count_per_class=2,synth.image_size=32,synth.workers=1"
    result = kedro(kedro_project, "run", "--pipelines=synth", f"--params={tiny}")
    assert result.exit_code == 0, result.output
    (experiment,) = [e for e in mlflow.MlflowClient().search_experiments() if e.name == "crack_pipeline"]
    assert experiment.artifact_location == root.as_uri()


def test_a_user_error_before_any_node_finished_gets_no_advice_to_repeat_the_command(caplog):
    """`kedro run --pipelines=retrain --params=data.source_dir=<Positive/ only>` said Kedro's `No nodes ran.
    Repeat the previous command to attempt a new run.` before its own `Error: every image in ... is 'crack'`:
    repeated, it fails the same way. A bug keeps the line."""
    from kedro.io import DataCatalog
    from kedro.pipeline import node, pipeline
    from kedro.runner import SequentialRunner

    from crack_pipeline.cli import node_failures_said_once
    from crack_pipeline.vision.errors import InputError

    def one_class_only():
        raise InputError("every image in /photos is 'crack': a crack classifier needs both classes")

    def a_bug():
        raise ZeroDivisionError("division by zero")

    advice = {}
    for failing in (one_class_only, a_bug):
        caplog.clear()
        with node_failures_said_once(), pytest.raises((InputError, ZeroDivisionError)):
            SequentialRunner().run(
                pipeline([node(failing, None, "out", name=failing.__name__)]), DataCatalog()
            )
        advice[failing.__name__] = "No nodes ran" in caplog.text
    assert advice == {"one_class_only": False, "a_bug": True}


def test_the_advice_to_resume_a_run_stopped_by_a_user_error_says_when_it_holds(caplog):
    """`kedro run --pipelines=from_folder` on 2 crack photos stopped at the split ("Add images") with Kedro's
    `--from-nodes "split_images"` advice; 2 photos added and the advice followed, the split resumed read the
    image index made before and stopped the same way. A bug keeps Kedro's advice as it is."""
    from kedro.io import DataCatalog
    from kedro.pipeline import node, pipeline
    from kedro.runner import SequentialRunner

    from crack_pipeline.cli import RESUME_CAVEAT, node_failures_said_once
    from crack_pipeline.vision.errors import InputError

    def too_few():
        raise InputError("class 'crack' has 2 image group(s); at least 3 are needed ... Add images")

    def a_bug():
        raise ZeroDivisionError("division by zero")

    advice = {}
    for failing in (too_few, a_bug):
        caplog.clear()
        ran = pipeline(
            [node(lambda: 1, None, "index", name="ingest"), node(failing, None, "out", name="split")]
        )
        with node_failures_said_once(), pytest.raises((InputError, ZeroDivisionError)):
            SequentialRunner().run(ran, DataCatalog())
        (said,) = [r.getMessage() for r in caplog.records if "nodes that have not run" in r.getMessage()]
        assert '--from-nodes "split"' in said
        advice[failing.__name__] = said.endswith(RESUME_CAVEAT)
    assert advice == {"too_few": True, "a_bug": False}


def test_a_command_a_warning_gives_runs_in_the_run_s_environment(kedro_project, monkeypatch):
    """evaluate's warning `Score photos kept out of its labels with kedro run --pipelines=evaluate_folder ...`
    came without the run's --env: followed, it scored the folder in `local`, with local's model. A run named
    by its id (a lock's holder) is no command."""
    import logging

    import numpy as np
    from kedro.framework.cli.project import run as kedro_run

    from crack_pipeline.pipelines.evaluate.domain_figures import report_test_domains
    from crack_pipeline.vision.evaluation.evaluate import labelled_metrics
    from tests.conftest import logged_lines

    def evaluate(**options):
        y = np.array([1] * 9 + [0] * 9)
        report_test_domains("small_cnn", labelled_metrics(y, y.astype(float), 0.5, ["photos"] * 18)[0])
        holder = "kedro run 2026-12-07T09.38.25.051Z"
        logging.getLogger("crack_pipeline.run_guard").warning("waiting for %s to let go of %s", holder, "x")

    monkeypatch.setattr(kedro_run, "callback", evaluate)
    said = {}
    for env in ("general", None):
        with logged_lines() as lines:
            kedro(kedro_project, "run", *([f"--env={env}"] if env else []))
        said[env] = lines
    warned, waiting = said["general"]
    assert "of its labels with kedro run --env=general --pipelines=evaluate_folder --params=" in warned, (
        warned
    )
    assert waiting == "waiting for kedro run 2026-12-07T09.38.25.051Z to let go of x"
    assert "of its labels with kedro run --pipelines=evaluate_folder --params=" in said[None][0]
    assert logging.getLogRecordFactory() is logging.LogRecord, "as it was after the run"
