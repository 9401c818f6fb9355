"""Every kedro command of the project (`kedro --help`, `kedro prune`, `kedro viz`, `kedro airflow create`)
imports its settings, hooks and commands: none of them may bring torch, which only runs need."""

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]

PROBE = (
    "import sys, crack_pipeline.settings, crack_pipeline.cli; "
    "print(sorted(name for name in ('torch', 'torchvision', 'pytorch_grad_cam') if name in sys.modules))"
)


def test_the_settings_and_commands_load_without_torch():
    """`kedro --help` took 12 s on a busy 2-core machine (torch, torchvision and every pipeline imported by
    hooks.py and prune_command.py), 3 s without them."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT / "src")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=PROJECT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines()[-1] == "[]"
