"""The project's conf/logging.yml holds for a kedro command started in a folder inside the project."""

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]

PROBE = (
    "import logging, crack_pipeline.settings; "
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
