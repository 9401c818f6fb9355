"""kedro-mlflow's hook, logging each parameter of a run once and a node's new ones in one call.

kedro-mlflow logs the parameters a node reads before it runs, one `mlflow.log_param` each: a database
write, again for every node that reads the same ones. A retrain made 461 writes of 163 parameters (1.1 s
of a 7.5 s run). This hook logs those the run has not logged yet, as one batch per node; long values still
go kedro-mlflow's way (`long_params_strategy`). settings.py registers it instead of the plugin's own."""

from __future__ import annotations

import contextlib
import re
import threading
import warnings
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

from crack_pipeline.quiet_lines import CLOSED_BY_ERROR, PLUGIN_LOGGER, unsaid

# MLflow asks, once per process, for type hints on the `predict` of kedro-mlflow's pipeline model when the
# plugin loads it (its hook does): every `kedro` command printed it. MLflow warns inside its own
# `simplefilter("once")`, which no filter of ours outranks, so the one import is made here, with that one
# message left unshown.
_PREDICT_TYPE_HINTS = "Add type hints to the `predict` method"


def _import_pipeline_model_quietly() -> None:
    shown = warnings.showwarning

    def show_but_type_hints(message, *args, **kwargs):
        if _PREDICT_TYPE_HINTS not in str(message):
            shown(message, *args, **kwargs)

    warnings.showwarning = show_but_type_hints
    try:
        import kedro_mlflow.mlflow  # noqa: F401
    finally:
        warnings.showwarning = shown


_import_pipeline_model_quietly()
from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook  # noqa: E402 (after the quiet import)

# How settings.DISABLE_HOOKS_FOR_PLUGINS names the plugin (its distribution's name, as built).
PLUGIN_NAMES = ("kedro_mlflow", "kedro-mlflow")
_RUNNER_REPR = re.compile(r"^<(?:[\w.]+\.)?(\w+) object at 0x[0-9a-fA-F]+>$")


class OncePerRunMlflowHook(MlflowHook):
    """kedro-mlflow's MlflowHook, each parameter written once a run (the module's docstring says why), a run
    not tracked reopening no earlier one, the run reopened only in a thread where it is not active, and the
    runner tagged by its name."""

    def __init__(self) -> None:
        self._node = threading.local()  # the node being started, per thread (ThreadRunner)
        super().__init__()
        self._logged: tuple[str | None, set[tuple[str, str]]] = (None, set())  # (run id, its parameters)

    # The plugin reopens its run before every node (`mlflow.start_run(run_id=...)`) for the threads of a
    # ThreadRunner, where it is not active: two reads and a write of the run each, and with
    # `tracking.run.nested` one more copy on MLflow's stack, each read and ended again after the run (16
    # nodes: 50 reads of the run, a tenth of a default run's CPU). A thread where it is active already is
    # shown no run to reopen while its node starts.
    @property
    def run_id(self) -> str | None:
        return None if getattr(self._node, "run_active", False) else self._run_id

    @run_id.setter
    def run_id(self, value: str | None) -> None:
        self._run_id = value

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        # The plugin keeps the id of the process's last tracked run, and reopened that run, finished, before
        # every node of a run not tracked (mlflow.yml's disable_tracking), leaving it running for good.
        self.run_id = None
        # Kedro gives the runner as its object's repr ("<kedro.runner.sequential_runner.SequentialRunner
        # object at 0x7f…>", new every run), or "None" for its default, which the plugin tags the run with:
        # the runner's class's name instead.
        given = str(run_params.get("runner"))
        runner = "SequentialRunner" if given == "None" else _RUNNER_REPR.sub(r"\1", given)
        super().before_pipeline_run({**run_params, "runner": runner}, pipeline, catalog)

    @hook_impl
    def before_node_run(self, node, catalog, inputs: dict[str, Any], is_async: bool) -> None:
        self._node.batch = {}
        active = mlflow.active_run()
        self._node.run_active = active is not None and active.info.run_id == self._run_id
        try:
            super().before_node_run(node, catalog, inputs, is_async)  # reopens the run if need be, collects
        finally:
            self._node.run_active = False
            batch, self._node.batch = self._node.batch, None
            if batch:  # those collected before a value too long stopped the run too (long_params_strategy)
                self._write_new(batch)

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline, catalog) -> None:
        # The plugin ends the stack's runs one at a time, each with "The run '<id>' was closed because of an
        # error": once since it no longer re-enters its run before every node (`run_id` above), not per node.
        # Not at the top: the command line's modules, else loaded by every worker process the settings are.
        from crack_pipeline.cli import user_error

        # "The run '<id>' was closed because of an error in the pipeline" before a user error or a stop
        # (Ctrl-C, a scheduler's SIGTERM), which the run then says: the pipeline had no error.
        said = user_error(error) is None
        with contextlib.nullcontext() if said else unsaid(PLUGIN_LOGGER, CLOSED_BY_ERROR):
            super().on_pipeline_error(error, run_params, pipeline, catalog)

    def _write_new(self, batch: dict[str, str]) -> None:
        """The parameters of `batch` the active run has not been given yet, in one write."""
        run_id = mlflow.active_run().info.run_id
        if self._logged[0] != run_id:
            self._logged = (run_id, set())
        logged = self._logged[1]
        if new := {name: value for name, value in batch.items() if (name, value) not in logged}:
            mlflow.log_params(new)
            logged.update(new.items())

    def _log_param(self, name: str, value: Any) -> None:
        batch = getattr(self._node, "batch", None)
        if batch is None or len(str(value)) > MAX_PARAM_VAL_LENGTH:
            return super()._log_param(name, value)
        batch[name] = str(value)  # as MLflow stores it
        return None
