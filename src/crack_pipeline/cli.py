"""Project commands (Kedro loads `cli` from here): Kedro's own `run`, whose user errors end in a few lines,
and `prune` (prune_command), which removes old versions of the outputs.

A mistake in what the user gave — a missing folder, a bad setting, no champion yet, a damaged checkpoint — or
a full disk stops the run with exit status 1 and the message that names it and says what to do; the
traceback is for `kedro run --verbose`. Anything else is a bug and keeps its full traceback.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import click
from kedro.config import MissingConfigException
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.cli.utils import split_string
from kedro.framework.project import settings
from kedro.io.core import DatasetError, VersionNotFoundError
from kedro.validation.exceptions import ParameterValidationError

from crack_pipeline.config import project_of
from crack_pipeline.prune_command import prune
from crack_pipeline.run_filters import filter_mistake, pipelines_making
from crack_pipeline.run_guard import RunInterrupted, RunLocked, interrupts_as_errors
from crack_pipeline.setting_sources import where_set
from crack_pipeline.vision import errors
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.settings import ConfigError

logger = logging.getLogger(__name__)

USER_ERRORS = (
    InputError,
    DatasetError,
    ParameterValidationError,
    MissingConfigException,
    RunLocked,
    RunInterrupted,
)


def user_error(error: BaseException) -> BaseException | None:
    """The user error behind `error`, if any (`errors.user_error`, Kedro's kinds too): a stop signal while a
    dataset loaded is the stop, not Kedro's "Failed while loading data"."""
    return errors.user_error(error, USER_ERRORS)


class RunFailed(click.ClickException):
    """A run stopped by a user error: its message (for a bad setting, where it was set), then how to see the
    traceback (or the traceback)."""

    def __init__(self, cause: BaseException, verbose: bool, options: dict[str, Any] | None = None) -> None:
        options = options or {}
        message = in_environment(never_made(cause) or str(cause), options.get("env"))
        if isinstance(cause, ConfigError) and (where := setting_source(str(cause), options)):
            message = f"{message} ({where})"
        super().__init__(message)
        self.cause, self.verbose = cause, verbose

    def show(self, file: IO | None = None) -> None:
        if self.verbose:
            click.echo("".join(traceback.format_exception(self.__cause__)), file=file, err=True)
        click.echo(f"Error: {self.message}", file=file, err=True)
        if not self.verbose:
            click.echo("(kedro run --verbose shows the full traceback)", file=file, err=True)


# A command a message gives (`train it first: kedro run --pipelines=train --namespaces=resnet18`) without an
# environment of its own; not a run named by its id (`waiting for kedro run 2026-12-07T09.38.25.051Z ...`).
_COMMAND_WITHOUT_ENV = re.compile(r"\bkedro run\b(?! --env)(?! \w)")


def in_environment(message: str, env: str | None) -> str:
    """`message` with `--env=<env>` in each `kedro run` command it gives, for a run with `--env`: the message
    was made where the environment is not known, and its command, followed, ran in `local` (the model it
    trained landed in mlflow.db, not in the environment's registry that had none, and the run failed the
    same way again). KEDRO_ENV, where set, holds for the next command too."""
    return _COMMAND_WITHOUT_ENV.sub(f"kedro run --env={env}", message) if env else message


@contextlib.contextmanager
def commands_in_environment(env: str | None) -> Iterator[None]:
    """Every record logged while the block runs (warnings and notes of every node and hook, the retrain's log
    file too) with its commands `in_environment`: made by nodes that do not know the run's `--env`, a
    warning's `Score photos ... with kedro run --pipelines=evaluate_folder ...`, followed, ran in `local`."""
    made = logging.getLogRecordFactory()

    def record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        logged = made(*args, **kwargs)
        try:
            said = logged.getMessage()
        except Exception:  # a record that cannot be formatted: logging says so as it emits it
            return logged
        if "kedro run" in said and (moved := in_environment(said, env)) != said:
            logged.msg, logged.args = moved, ()
        return logged

    if env:
        logging.setLogRecordFactory(record)
    try:
        yield
    finally:
        logging.setLogRecordFactory(made)


def never_made(error: BaseException) -> str | None:
    """For an input that no run has saved yet (Kedro's "Did not find any versions for <its repr>"): which
    pipelines make it, the smallest first, as a command to run first. None for any other error."""
    if not (isinstance(error, DatasetError) and isinstance(error.__cause__, VersionNotFoundError)):
        return None
    name = str(error).split(":", 1)[0]
    if not (makers := pipelines_making(name)):
        return None
    others = f" (or {', '.join(makers[1:])})" if len(makers) > 1 else ""
    return f"{name}: no run has made it yet; make it first: kedro run --pipelines={makers[0]}{others}"


def setting_source(message: str, options: dict[str, Any]) -> str | None:
    """Where the run's configuration set the setting `message` names (`setting_sources.where_set`)."""
    loader = settings.CONFIG_LOADER_ARGS
    conf_source = Path(options.get("conf_source") or project_of(Path.cwd()) / settings.CONF_SOURCE)
    env = options.get("env") or loader.get("default_run_env") or "local"
    return where_set(message, conf_source, env, loader.get("base_env", "base"), options.get("params") or {})


class UserErrorsSaidOnce(logging.Filter):
    """Drops Kedro's `Node <node and its inputs> failed with error: <message>` for a user error, which the run
    ends with (`RunFailed`): it said the message twice, the first time after a line of the node's inputs. A
    bug keeps it (which node failed), before its traceback. Kedro logs it while handling the error."""

    def filter(self, record: logging.LogRecord) -> bool:
        handled = sys.exc_info()[1]
        return record.levelno < logging.ERROR or handled is None or user_error(handled) is None


# What Kedro's `--from-nodes` advice leaves out: the nodes resumed read what the earlier ones saved.
RESUME_CAVEAT = (
    "That is, after changing a setting. After changing the files the run read (images added, removed or "
    "moved), run the previous command whole, without it: the nodes resumed would read what the earlier ones "
    "made of the files before the change, and stop the same way."
)


class NoRetryAdvice(logging.Filter):
    """Kedro's runner's advice for a user error: drops `No nodes ran. Repeat the previous command to attempt a
    new run.`, said before the run's own message, which told the user to repeat what fails the same way (a
    retrain on a folder of one class); and adds `RESUME_CAVEAT` to `There are N nodes that have not run. ...
    --from-nodes "<node>"`: followed after the fix the error asked for (`class 'crack' has 2 image group(s)
    ... Add images`), the split resumed read the image index made before the images were added, and stopped
    the same way. A bug keeps both as Kedro says them. The runner logs them while handling the error."""

    def filter(self, record: logging.LogRecord) -> bool:
        handled = sys.exc_info()[1]
        if handled is None or user_error(handled) is None:
            return True
        said = record.getMessage()
        if said.startswith("There are ") and "--from-nodes" in said and RESUME_CAVEAT not in said:
            record.msg, record.args = f"{said}\n{RESUME_CAVEAT}", ()
        return not said.startswith("No nodes ran.")


# The loggers Kedro's runners log through (each its own module's).
RUNNER_LOGGERS = (
    "kedro.runner.sequential_runner",
    "kedro.runner.thread_runner",
    "kedro.runner.parallel_runner",
)


@contextlib.contextmanager
def node_failures_said_once() -> Iterator[None]:
    """`UserErrorsSaidOnce` on Kedro's node logger, `NoRetryAdvice` on its runners', while the block runs."""
    filtered = [(logging.getLogger("kedro.pipeline.node"), UserErrorsSaidOnce())]
    filtered += [(logging.getLogger(name), NoRetryAdvice()) for name in RUNNER_LOGGERS]
    for source, quiet in filtered:
        source.addFilter(quiet)
    try:
        yield
    finally:
        for source, quiet in filtered:
            source.removeFilter(quiet)


ASYNC_NOW = "--runner-params=is_async=True"


def older_options(options: dict[str, Any]) -> dict[str, Any]:
    """Kedro's older options as their newer forms, each said in one line: Kedro's deprecation warning printed
    its own source path and a `warnings.warn(` line. `--pipeline NAME` as `--pipelines=NAME` (with
    `--pipelines` too, a usage error: Kedro's said only `NoneType: None`); `--async` as
    `--runner-params=is_async=True` (with `is_async=False` there, a usage error)."""
    if options.get("pipeline"):
        if options.get("pipelines"):
            raise click.UsageError(
                "--pipeline and --pipelines together: give the pipelines with --pipelines only"
            )
        logger.warning(
            "--pipeline is Kedro's older option, to be removed: this run reads it as --pipelines=%s",
            options["pipeline"],
        )
        options = {**options, "pipeline": None, "pipelines": [options["pipeline"]]}
    if options.get("is_async"):
        runner = dict(options.get("runner_params") or {})
        if "is_async" in runner and not runner["is_async"]:
            raise click.UsageError("--async and --runner-params=is_async=False together: give one of them")
        logger.warning("--async is Kedro's older option, to be removed: this run reads it as %s", ASYNC_NOW)
        options = {**options, "is_async": False, "runner_params": {**runner, "is_async": True}}
    return options


def _run(verbose: bool, **options: Any) -> Any:
    options = older_options(options)
    try:
        with interrupts_as_errors(), node_failures_said_once(), commands_in_environment(options.get("env")):
            return kedro_run.callback(**options)
    except Exception as error:
        cause = user_error(error) or filter_mistake(error, options)
        if cause is None:
            raise
        raise RunFailed(cause, verbose, options) from error


def _params_with_values(kedro_params: Callable[..., Any]) -> Callable[..., Any]:
    """Kedro's `--params` reading (`kedro_params`), each `key=` given a value first: Kedro read
    `--params=data.source_dir=` (what a shell makes of `data.source_dir=$DIR` with DIR empty) as null, the
    setting's default, and the run went on with it, on the synthetic photos. `key=null` still unsets."""

    def read(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        for item in split_string(ctx, param, value) if isinstance(value, str) else []:
            key, equals, given = item.partition("=")
            if equals and not given.strip():
                raise click.BadParameter(
                    f"{key.strip()} is given no value (an empty shell variable?): "
                    "give it one, or null to unset it",
                    ctx,
                    param,
                )
        return kedro_params(ctx, param, value)

    return read


def _run_options() -> list[click.Parameter]:
    """Kedro's `run` options, its `--params` read by `_params_with_values`."""
    options = []
    for option in kedro_run.params:
        if option.name == "params":
            option = copy.copy(option)
            option.callback = _params_with_values(option.callback)
        options.append(option)
    return options


@click.group(name="crack_pipeline")
def cli() -> None:
    """Commands of the crack_pipeline project."""


# Also what `crack-pipeline` and `python -m crack_pipeline` run (Kedro's find_run_command looks for `run`).
run = click.Command(
    name="run",
    callback=_run,
    params=[
        *_run_options(),
        click.Option(["--verbose", "-v"], is_flag=True, help="Show the full traceback of an error."),
    ],
    help=kedro_run.help,
)
cli.add_command(run)

cli.add_command(prune)
