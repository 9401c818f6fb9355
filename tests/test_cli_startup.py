"""Every kedro command of the project (`kedro --help`, `kedro prune`, `kedro viz`, `kedro airflow create`)
imports its settings, hooks and commands: none of them may bring torch, which only runs need, and none prints
a warning about the libraries' own code."""

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

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


def test_the_older_pipeline_option_runs_that_pipeline_with_one_line_not_kedro_s_warning(monkeypatch, caplog):
    """`kedro run --pipeline explain` (DESIGN.md keeps it working) printed Kedro's KedroDeprecationWarning
    with its site-packages path and a `warnings.warn(` line."""
    import contextlib
    import types
    import warnings

    from kedro.framework.cli import project
    from kedro.framework.session import KedroSession

    from crack_pipeline import cli

    runs = []

    class Recorded(KedroSession):
        @classmethod
        def create(cls, **_):
            return contextlib.nullcontext(types.SimpleNamespace(run=lambda **run: runs.append(run) or {}))

    monkeypatch.setattr(project, "settings", types.SimpleNamespace(SESSION_CLASS=Recorded))
    with (
        warnings.catch_warnings(record=True) as warned,
        cli.run.make_context("run", ["--pipeline", "explain"]) as ctx,
    ):
        warnings.simplefilter("always")
        cli.run.invoke(ctx)
    assert [str(w.message) for w in warned] == []
    assert [run["pipeline_names"] for run in runs] == [["explain"]]
    assert caplog.messages == [
        "--pipeline is Kedro's older option, to be removed: this run reads it as --pipelines=explain"
    ]
    both = cli.run.make_context("run", ["--pipeline", "explain", "--pipelines", "explain"])
    with pytest.raises(click.UsageError, match="--pipeline and --pipelines together"):
        cli.run.invoke(both)
    caplog.clear()
    with warnings.catch_warnings(record=True) as warned, cli.run.make_context("run", ["--async"]) as ctx:
        warnings.simplefilter("always")
        cli.run.invoke(ctx)
    assert [str(w.message) for w in warned] == [] and runs[-1]["runner"]._is_async, (
        "--async, without its warning"
    )
    assert caplog.messages == [
        "--async is Kedro's older option, to be removed: this run reads it as --runner-params=is_async=True"
    ]
    both = cli.run.make_context("run", ["--async", "--runner-params", "is_async=False"])
    with pytest.raises(click.UsageError, match="--async and --runner-params=is_async=False together"):
        cli.run.invoke(both)


def test_a_params_key_given_no_value_stops_the_command_and_null_still_unsets_it():
    """`--params=data.source_dir=$DIR` with DIR empty reached Kedro as `data.source_dir=`, read as null: the
    setting's default, the synthetic photos, trained on without a word."""
    from crack_pipeline import cli

    for given in ("data.source_dir=", "train.epochs=1,data.source_dir= "):
        with pytest.raises(click.BadParameter, match=r"data\.source_dir is given no value .* null to unset"):
            cli.run.make_context("run", [f"--params={given}"])
    context = cli.run.make_context("run", ["--params=data.source_dir=null,train.epochs=2"])
    assert context.params["params"] == {"data": {"source_dir": None}, "train": {"epochs": 2}}
