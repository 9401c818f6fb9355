"""The project's conf/logging.yml holds for a kedro command started in a folder inside the project."""

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]

PROBE = (
    "import logging, crack_pipeline.settings; "
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


# As a training replica is started: the `kedro` command's script (which imports Kedro) is the main module,
# and a spawned process runs it again.
SPAWNING = """
import kedro.framework.project
import multiprocessing
import os

from crack_pipeline.replica_logging import logging_setup_said_once

if __name__ == "__main__":
    with logging_setup_said_once():
        replica = multiprocessing.get_context("spawn").Process(target=print, args=("replica ran",))
        replica.start()
        replica.join()
    print("given back:", os.environ.get("KEDRO_LOGGING_CONFIG"))
"""


def test_a_spawned_replica_does_not_say_the_logging_set_up_again(tmp_path):
    """Training on 2 processes printed Kedro's "Using 'conf/logging.yml' as logging configuration" line
    once more per replica."""
    script = tmp_path / "kedro_command.py"
    script.write_text(SPAWNING)
    env = {k: v for k, v in os.environ.items() if k != "KEDRO_LOGGING_CONFIG"}
    env["PYTHONPATH"] = str(PROJECT / "src")
    out = subprocess.run(
        [sys.executable, str(script)], cwd=PROJECT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.count("as logging configuration") == 1 and "replica ran" in out, out
    assert "given back: None" in out, "KEDRO_LOGGING_CONFIG as it was"


def test_overlapping_trainings_give_the_logging_config_back(tmp_path, monkeypatch):
    """Two variants trained at once (ThreadRunner): the first done removed KEDRO_LOGGING_CONFIG under the
    other's replicas, and the last put back the first's deleted file, on which every replica spawned later
    failed at Kedro's import."""
    from crack_pipeline.replica_logging import logging_setup_said_once

    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "logging.yml").write_text("version: 1\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KEDRO_LOGGING_CONFIG", raising=False)
    first, second = logging_setup_said_once(), logging_setup_said_once()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    still = os.environ.get("KEDRO_LOGGING_CONFIG")
    assert still is not None and Path(still).is_file(), "the second's replicas keep the quiet configuration"
    second.__exit__(None, None, None)
    assert "KEDRO_LOGGING_CONFIG" not in os.environ
