"""Scheduling the retrain of an environment other than the default (`KEDRO_ENV=ozgenel make schedule`):
cron's and Airflow's runs have no KEDRO_ENV of their own."""

from __future__ import annotations

import ast
import subprocess

import pytest

from tests.conftest import PROJECT_ROOT
from tests.test_scheduling import create_dag, fake_crontab, make_schedule, make_shown

OZGENEL = {"KEDRO_ENV": "ozgenel"}


def test_the_cron_entry_runs_and_prunes_the_environment_make_schedule_was_given():
    """The entry ran `kedro run` without --env: every night retrained the default environment (its
    settings, its data/ and mlflow.db), not the one the photos were meant for."""
    (line,) = make_schedule("KEEP=2", env=OZGENEL).splitlines()
    assert (
        " .venv/bin/kedro run --pipelines=retrain --env=ozgenel >>logs/retrain/cron_ozgenel.out 2>&1 " in line
    )
    assert " .venv/bin/kedro prune --keep 2 --models --yes --env=ozgenel " in line
    assert line.endswith(f"# crack_pipeline retrain {PROJECT_ROOT} env ozgenel")
    assert make_schedule(env={"KEDRO_ENV": "local"}) == make_schedule(env={"KEDRO_ENV": ""})
    with pytest.raises(subprocess.CalledProcessError) as refused:
        make_schedule(env={"KEDRO_ENV": "ozgnel"})
    assert "KEDRO_ENV=ozgnel: this project has no such environment" in refused.value.stderr


def test_each_environment_s_entry_replaces_only_its_own(tmp_path):
    table, env = fake_crontab(tmp_path)
    make_schedule("INSTALL=1", "CRON_TIME=0 1 * * *", env=env)
    make_schedule("INSTALL=1", "CRON_TIME=0 3 * * *", env={**env, **OZGENEL})
    make_schedule("INSTALL=1", "CRON_TIME=0 4 * * *", env={**env, **OZGENEL})
    default, ozgenel = table.read_text().splitlines()
    assert default.startswith("0 1 * * * ") and "--env" not in default
    assert ozgenel.startswith("0 4 * * * ") and "--env=ozgenel" in ozgenel


def test_the_dags_run_the_environment_make_airflow_dag_was_given(kedro_project):
    shown = make_shown("airflow-dag", "KEDRO_ENV=ozgenel").stdout
    assert shown.count(" --target-dir=airflow_dags --env=ozgenel ") == 2, shown
    result = create_dag(kedro_project, "retrain", "--env=ozgenel", f"--params=project_path={kedro_project}")
    assert result.exit_code == 0, result.output
    source = (kedro_project / "dags/crack_pipeline_ozgenel_retrain_dag.py").read_text()
    assigned = {n.targets[0].id: n.value for n in ast.parse(source).body if isinstance(n, ast.Assign)}
    assert ast.literal_eval(assigned["env"]) == "ozgenel"
    # Its own DAG id beside the default environment's: Airflow shows one of two DAGs with the same id.
    assert 'dag_id="crack-pipeline-ozgenel-retrain"' in source


def test_a_folder_is_refused_for_an_environment_that_lists_its_own(tmp_path):
    """`KEDRO_ENV=general make schedule SOURCE_DIR=X INSTALL=1` installed an entry whose every run stopped at
    ingest ('data.source_dir ... is set, but data.sources lists the folders of this environment'); so did
    the DAG of `make airflow-dag`."""
    general = {"KEDRO_ENV": "general"}
    with pytest.raises(subprocess.CalledProcessError) as refused:
        make_schedule(f"SOURCE_DIR={tmp_path}", env=general)
    assert f"SOURCE_DIR={tmp_path}: the environment general lists the folders it trains on" in (
        refused.value.stderr
    )
    assert "add the folder to data.sources in conf/general/" in refused.value.stderr
    assert "--env=general" in make_schedule(env=general), "without a folder: the environment's own"
    shown = make_shown("airflow-dag", "KEDRO_ENV=general", f"SOURCE_DIR={tmp_path}", check=False)
    assert shown.returncode != 0 and "lists the folders it trains on" in shown.stderr
    # An environment that lists none takes the folder.
    assert (
        f"source_dir='{tmp_path}'"
        in make_shown("airflow-dag", "KEDRO_ENV=ozgenel", f"SOURCE_DIR={tmp_path}").stdout
    )
