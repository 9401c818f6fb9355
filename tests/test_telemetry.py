"""No command of the project calls out: neither Kedro's telemetry (.telemetry) nor MLflow's."""

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
# MLflow keeps its telemetry off by itself where one of these is set (CI, pytest): not where a person runs.
QUIET = {"DO_NOT_TRACK", "MLFLOW_DISABLE_TELEMETRY", "PYTEST_CURRENT_TEST", "CI", "GITHUB_ACTIONS"}
PROBE = (
    "import crack_pipeline, mlflow; from mlflow.telemetry.client import get_telemetry_client; "
    "print(get_telemetry_client())"
)


def test_mlflow_sends_no_usage_records(tmp_path):
    """A `kedro run` outside make (which exports DO_NOT_TRACK) started MLflow's telemetry client: its
    config fetched from config.mlflow-telemetry.io, its records sent, an id kept in ~/.config/mlflow."""
    env = {key: value for key, value in os.environ.items() if key not in QUIET}
    env.update(PYTHONPATH=str(PROJECT / "src"), HOME=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines()[-1] == "None"
    assert not (tmp_path / ".config/mlflow").exists()


def test_reading_a_model_from_the_store_draws_no_download_bar(tmp_path):
    """`kedro run --pipelines=explain` printed MLflow's `Downloading artifacts: 100%|...` as it read the
    champion's checkpoint from the local store: in a first run's log, a download where the README says
    nothing is downloaded."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"x")
    probe = (
        "import sys, crack_pipeline, mlflow; "
        "mlflow.artifacts.download_artifacts(artifact_uri=sys.argv[1], dst_path=sys.argv[2])"
    )
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"}
    env.update(PYTHONPATH=str(PROJECT / "src"))
    source, copy = (tmp_path / "run").as_uri(), str(tmp_path / "copy")
    done = subprocess.run(
        [sys.executable, "-c", probe, source, copy], env=env, capture_output=True, text=True, check=True
    )
    assert (tmp_path / "copy" / "run" / "checkpoint.pt").read_bytes() == b"x"
    assert "Downloading artifacts" not in done.stderr + done.stdout
