"""Every kedro command of the project (`kedro --help`, `kedro prune`, `kedro viz`, `kedro airflow create`)
imports its settings, hooks and commands: none of them may bring torch, which only runs need, and none prints
a warning about the libraries' own code."""

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]

# kedro-viz's server modules too, here and in a process started from here (`kedro viz run` starts its server
# so): they printed FastAPI's deprecation of the ORJSONResponse kedro-viz uses, nothing a user can act on.
SERVER = "import kedro_viz.api.rest.responses.utils"
PROBE = (
    f"import subprocess, sys, crack_pipeline.settings, crack_pipeline.cli; {SERVER}; "
    f"subprocess.run([sys.executable, '-c', {SERVER!r}], check=True); "
    "print(sorted(name for name in ('torch', 'torchvision', 'pytorch_grad_cam') if name in sys.modules))"
)


def test_the_settings_and_commands_load_without_torch_or_warnings():
    """`kedro --help` took 12 s on a busy 2-core machine (torch, torchvision and every pipeline imported by
    hooks.py and prune_command.py), 3 s without them."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=PROJECT, env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines()[-1] == "[]"
    assert "Warning" not in done.stderr, done.stderr
