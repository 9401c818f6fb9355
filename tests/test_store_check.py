"""The check of the MLflow store's artefact folder before a run (`store_check.moved_store_problem`): a project
moved, copied, or whose artefact folder is on a disk not mounted or on a tracking server's."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import mlflow
import pytest

from crack_pipeline.store_check import missing_files_note, moved_store_problem, require_usable_store
from crack_pipeline.vision.settings import ConfigError
from tests.conftest import PROJECT_ROOT, kedro, new_store


def project_at(folder: Path) -> Path:
    """A folder Kedro takes for a project (its pyproject.toml), with an MLflow store of its own."""
    folder.mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", folder / "pyproject.toml")
    new_store(folder / "mlflow.db")
    return folder


def store_with_files_in(project: Path, artefacts: Path, store: Path | None = None):
    """The client of the store `store` (default: the project's own), whose experiment keeps its files in
    `artefacts`, with a run."""
    client = mlflow.MlflowClient(f"sqlite:///{store or project / 'mlflow.db'}")
    client.create_run(client.create_experiment("crack_pipeline", artifact_location=artefacts.as_uri()))
    return client


def test_a_copied_project_stops_naming_both_folders_and_the_ways_on(tmp_path):
    """cp -r project variant: the copy's mlflow.db kept the original's artefact folder, and every run of the
    copy wrote its files into the original's mlruns/ without a word."""
    original = project_at(tmp_path / "project")
    (original / "mlruns").mkdir()
    store_with_files_in(original, original / "mlruns")
    copy = project_at(tmp_path / "variant")
    shutil.copy(original / "mlflow.db", copy / "mlflow.db")  # with the project's files
    problem = moved_store_problem(
        copy, mlflow.MlflowClient(f"sqlite:///{copy / 'mlflow.db'}"), "crack_pipeline"
    )
    assert f"in {original / 'mlruns'}, inside another project, {original}" in problem
    assert f"was this project ({copy}) copied from there" in problem
    assert "move its mlflow.db away" in problem and f"sqlite:///{original}/mlflow.db" in problem


def test_a_project_copied_with_its_file_store_stops_too(tmp_path, monkeypatch):
    """mlflow_tracking_uri: mlruns (a file store, which MLflow 3 opens with MLFLOW_ALLOW_FILE_STORE=true): the
    copy's mlruns/ kept the original's artefact folder, as a copied mlflow.db does, and went unnoticed."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    original = project_at(tmp_path / "project")
    client = mlflow.MlflowClient((original / "mlruns").as_uri())
    client.create_run(client.create_experiment("crack_pipeline"))
    copy = tmp_path / "variant"
    shutil.copytree(original, copy)
    problem = moved_store_problem(copy, mlflow.MlflowClient((copy / "mlruns").as_uri()), "crack_pipeline")
    assert f"inside another project, {original}: was this project ({copy}) copied from there" in problem
    assert "move its mlruns away" in problem and f"mlflow_tracking_uri: {original / 'mlruns'} in" in problem
    assert moved_store_problem(original, client, "crack_pipeline") is None, "the original is its own"


def test_a_store_shared_with_another_project_on_purpose_is_no_copy(tmp_path):
    original = project_at(tmp_path / "project")
    other = project_at(tmp_path / "variant")
    client = store_with_files_in(other, original / "mlruns", store=original / "mlflow.db")
    assert moved_store_problem(other, client, "crack_pipeline") is None


def test_a_project_inside_another_with_its_artefact_root_set_in_there_is_no_copy(tmp_path):
    """A project in a Kedro project (a monorepo's), its store its own, its artefact root set to a folder of
    the enclosing project's: stopped as a copy of it, though that project's store keeps no such experiment."""
    outer = project_at(tmp_path / "repo")
    inner = project_at(outer / "projects" / "crack")
    client = store_with_files_in(inner, outer / "mlartifacts")
    assert moved_store_problem(inner, client, "crack_pipeline") is None
    outer_store = mlflow.MlflowClient(f"sqlite:///{outer / 'mlflow.db'}")
    outer_store.create_experiment("crack_pipeline", artifact_location=(outer / "mlruns").as_uri())
    assert moved_store_problem(inner, client, "crack_pipeline") is None, "its own experiment, its own folder"


def test_a_project_reached_through_a_link_is_its_own(tmp_path):
    """The store recorded the project's folder through a link (~/crack -> /data/crack): not another's."""
    project = project_at(tmp_path / "data" / "crack")
    link = tmp_path / "crack"
    link.symlink_to(project)
    assert moved_store_problem(project, store_with_files_in(link, link / "mlruns"), "crack_pipeline") is None


def test_an_artefact_folder_on_a_disk_not_mounted_is_not_read_as_a_moved_project(tmp_path):
    """An artefact root on a NAS not mounted (/mnt/nas/crack/artifacts) was told to link the project in
    the place of /mnt/nas/crack."""
    project = project_at(tmp_path / "project")
    artefacts = tmp_path / "nas" / "crack" / "artifacts"
    problem = moved_store_problem(project, store_with_files_in(project, artefacts), "crack_pipeline")
    assert f"in {artefacts}, which does not exist, nor does {artefacts.parent}" in problem
    assert "not mounted" in problem and "ln -s" not in problem and "moved from" not in problem


def test_a_tracking_server_s_own_artefact_folder_is_not_read_as_a_moved_project(tmp_path):
    """A server started with --default-artifact-root /srv/mlflow/artifacts: a path on its disk, not this
    machine's, which MLflow's client writes to itself."""
    experiment = SimpleNamespace(name="crack_pipeline", artifact_location="/srv/mlflow/artifacts/1")
    client = SimpleNamespace(
        tracking_uri="http://tracking:5000", get_experiment_by_name=lambda name: experiment
    )
    problem = moved_store_problem(project_at(tmp_path / "project"), client, "crack_pipeline")
    assert "a folder on the tracking server's disk that this machine has not" in problem
    assert "ln -s" not in problem and "moved from" not in problem


def test_a_champion_s_missing_files_are_said_to_be_where_they_were(tmp_path):
    """A run whose files were on a network disk not mounted (or whose folder alone was deleted there) was
    asked 'mlruns/ deleted or moved?': the note now fits each, as the moved-store messages do."""

    def note(artifact_uri):
        client = SimpleNamespace(
            get_run=lambda _: SimpleNamespace(info=SimpleNamespace(artifact_uri=artifact_uri))
        )
        return missing_files_note(client, "r1")

    nas = Path("/mnt/nas/crack/artifacts")
    unmounted = note((nas / "r1" / "artifacts").as_uri())
    gone = f"in {nas / 'r1' / 'artifacts'}, which does not exist, nor does {nas}: is the disk it is on not "
    assert f"{gone}mounted, or was it moved or deleted?)" in unmounted
    assert "mlruns/" not in unmounted and "Mount it or put the folder back, or make a version" in unmounted
    mlruns = tmp_path / "project" / "mlruns"
    assert "which does not exist: mlruns/ deleted or moved?). Restore them" in note(f"{mlruns}/r1/artifacts")
    mounted = tmp_path / "artifacts"  # there, without the run's folder
    mounted.mkdir()
    assert "which does not exist: was it deleted?). Restore them" in note(f"{mounted}/r1/artifacts")
    assert note(tmp_path.as_uri()) == note("s3://bucket/r1/artifacts") == "", "there, or not on this disk"


def test_an_artefact_root_not_made_yet_of_an_experiment_with_no_run_is_no_missing_folder(tmp_path):
    """An artefact root set anew (mlflow.yml's artifact_location) is made with the first run's files: none
    can be missing from it, though its folder's folder is not there either."""
    project = project_at(tmp_path / "project")
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    for root in (tmp_path / "storage" / "crack" / "artifacts", tmp_path / "storage" / "mlruns"):
        client.create_experiment(root.name, artifact_location=str(root))
        assert moved_store_problem(project, client, root.name) is None


def test_a_file_store_mlflow_will_refuse_is_named_before_kedro_mlflow_opens_it(monkeypatch):
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    for uri in ("mlruns", "file:///srv/mlruns", "C:\\crack\\mlruns"):
        with pytest.raises(ConfigError) as refused:
            require_usable_store({"server": {"mlflow_tracking_uri": uri}})
        assert str(refused.value).startswith(f"mlflow.yml: server.mlflow_tracking_uri {uri} is a file store")
        assert "MLFLOW_ALLOW_FILE_STORE=true" in str(refused.value)
    registry_in_a_folder = {"mlflow_tracking_uri": "sqlite:///mlflow.db", "mlflow_registry_uri": "mlruns"}
    with pytest.raises(ConfigError, match="server.mlflow_registry_uri mlruns is a file store"):
        require_usable_store({"server": registry_in_a_folder})
    for usable in ("sqlite:///mlflow.db", "http://tracking:5000", "databricks", None):
        require_usable_store({"server": {"mlflow_tracking_uri": usable, "mlflow_registry_uri": None}})
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    require_usable_store({"server": {"mlflow_tracking_uri": "mlruns"}})


def test_kedro_run_on_a_file_store_stops_with_a_message_not_a_traceback(kedro_project, monkeypatch):
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    (kedro_project / "conf/local/mlflow.yml").write_text("server: {mlflow_tracking_uri: mlruns}\n")
    result = kedro(kedro_project, "run", "--pipelines=synth")
    assert result.exit_code == 1
    assert "Error: mlflow.yml: server.mlflow_tracking_uri mlruns is a file store" in result.output
    assert "Traceback" not in result.output
    assert not (kedro_project / "data/01_raw/synthetic").exists() and not (kedro_project / "mlruns").exists()
