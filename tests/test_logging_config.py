"""The project's conf/logging.yml holds for a kedro command started in a folder inside the project."""

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]

PROBE = (
    "import logging, crack_pipeline.settings; "
    "print(logging.getLogger('kedro_viz.integrations.kedro.run_hooks').isEnabledFor(logging.WARNING)); "
    "print(logging.getLogger('kedro.validation.parameter_validator').isEnabledFor(logging.INFO)); "
    "print([getattr(h.formatter, '_fmt', None) for h in logging.getLogger().handlers])"
)


def test_project_logging_from_a_folder_inside_the_project():
    env = {k: v for k, v in os.environ.items() if k != "KEDRO_LOGGING_CONFIG"}
    env["PYTHONPATH"] = str(PROJECT / "src")
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=PROJECT / "notebooks",  # as a notebook kernel or `cd notebooks && kedro run` starts
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # conf/logging.yml's one plain line per record, not Kedro's rich handler (which wraps every line)
    assert "'[%(levelname)s] %(message)s'" in out.splitlines()[-1], out
    # Kedro's "No typed parameter requirements found, returning original parameters" at every run: noise
    assert out.splitlines()[-2] == "False", out
    # kedro-viz's "Workflow tracking is disabled during partial pipeline runs" before `--nodes=merge_survey`
    assert out.splitlines()[-3] == "False", out


def test_kedro_s_choice_of_logging_file_is_not_said_by_every_process():
    """Kedro logs "Using 'conf/logging.yml' as logging configuration. ..." as it is imported: a run said it
    once, then again in each decoding worker and training replica it started."""
    env = {k: v for k, v in os.environ.items() if k != "KEDRO_LOGGING_CONFIG"}
    env["PYTHONPATH"] = str(PROJECT / "src")
    said = subprocess.run(
        [sys.executable, "-c", "import kedro.framework.project"],
        cwd=PROJECT,  # as a worker process of a run starts: Kedro's command line imported again
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "as logging configuration" not in said.stdout + said.stderr, said


def test_a_first_run_s_new_mlflow_store_is_made_without_mlflow_s_own_lines(tmp_path):
    """`make run` in a fresh clone printed MLflow's `2026/12/07 03:47:27 INFO mlflow.store.db.utils: Creating
    initial MLflow database tables...` and `Updating database tables` on stderr, as it made mlflow.db: nothing
    a user acts on, in a format of its own."""
    env = {k: v for k, v in os.environ.items() if k != "KEDRO_LOGGING_CONFIG"}
    env["PYTHONPATH"] = str(PROJECT / "src")
    made = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, crack_pipeline.settings, mlflow; "
            "mlflow.MlflowClient(sys.argv[1]).search_experiments()",
            f"sqlite:///{tmp_path / 'mlflow.db'}",
        ],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert (tmp_path / "mlflow.db").is_file()
    assert "database tables" not in made.stdout + made.stderr, made
