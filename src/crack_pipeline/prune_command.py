"""`kedro prune`: removes old versions of the outputs (pruning) and, asked to, of the registered models
(registry_pruning), under the lock that keeps it from any run that may use them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from kedro.framework.startup import ProjectMetadata
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from crack_pipeline.config import environment_config, in_project
from crack_pipeline.guard_hooks import VersionsInUseHook
from crack_pipeline.pruning import OldVersions, old_versions, remove, versioned_outputs
from crack_pipeline.registry_pruning import (
    OldModelVersion,
    old_model_versions,
    protected_versions,
    remove_model_version,
)
from crack_pipeline.run_guard import RunLock, RunLocked


@click.command()
@click.option(
    "--keep", type=click.IntRange(min=1), required=True, help="How many newest versions of each output stay."
)
@click.option(
    "--path",
    "folders",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Only the outputs under this folder (repeatable; default: the project's data/).",
)
@click.option(
    "--models",
    is_flag=True,
    help="Also the registered models of the environment's MLflow store: the newest KEEP of each variant "
    "stay, and the champion, those init_from names and earlier champions the kept champion decisions record.",
)
@click.option("--env", "-e", envvar="KEDRO_ENV", default="local", help="The environment (its MLflow store).")
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@click.option("--yes", is_flag=True, help="Remove without asking (for cron and scripts).")
@click.pass_obj
def prune(
    metadata: ProjectMetadata,
    /,
    keep: int,
    folders: tuple[Path, ...],
    models: bool,
    env: str,
    dry_run: bool,
    yes: bool,
) -> None:
    """Remove all but the newest KEEP versions of every versioned output (the latest always stays)."""
    project = metadata.project_path
    lock = RunLock(project / VersionsInUseHook.LOCK_FILE)
    try:
        lock.acquire("kedro prune")
    except RunLocked:
        raise click.ClickException(
            f"a kedro run (or another prune) holds {lock.path}: nothing removed; prune once it has finished"
        ) from None
    try:
        outputs = [
            output for folder in folders or (project / "data",) for output in versioned_outputs(folder)
        ]
        doomed = [old for old in (old_versions(output, keep) for output in outputs) if old.old]
        for old in sorted(doomed, key=lambda old: old.output):
            click.echo(_listed(old, project))
        count = sum(len(old.old) for old in doomed)
        size = sum(old.size for old in doomed)
        summary = f"{len(outputs)} outputs: {count} old versions"
        client, old_models = None, []
        if models:
            client, old_models = _old_models(project, env, keep, doomed)
            for old in old_models:
                click.echo(
                    f"registered version {old.version} ({old.variant}): removes it, its run and its exported "
                    f"model ({_size(old.size)})"
                )
            summary += f", {len(old_models)} old registered versions"
            size += sum(old.size for old in old_models)
        summary += f", {_size(size)}"
        if dry_run or not (doomed or old_models):
            click.echo(f"{summary}; nothing removed{' (dry run)' if doomed or old_models else ''}")
            return
        if not yes:
            if not sys.stdin.isatty():
                raise click.ClickException(f"{summary}; nothing removed: add --yes to remove them unasked")
            click.confirm(f"{summary}: remove them?", abort=True)
        problems = [problem for old in doomed for problem in remove(old)]
        for old in old_models:
            try:
                remove_model_version(client, old)
            except (MlflowException, OSError) as error:
                problems.append(f"model version {old.version}: {error}")
        for problem in problems:
            click.echo(f"not removed: {problem}", err=True)
        if problems:
            raise click.ClickException(f"{len(problems)} of {count + len(old_models)} could not be removed")
        click.echo(f"{summary}; removed")
    finally:
        lock.release()


def _listed(old: OldVersions, project: Path) -> str:
    shown = old.output.relative_to(project) if old.output.is_relative_to(project) else old.output
    span = " … ".join(dict.fromkeys((old.old[0].name, old.old[-1].name)))
    return f"{shown}: removes {len(old.old)} ({span}, {_size(old.size)}), keeps {len(old.kept)}"


def _old_models(
    project: Path, env: str, keep: int, doomed: list[OldVersions]
) -> tuple[MlflowClient, list[OldModelVersion]]:
    """The environment's store, and its registered versions to remove; earlier champions stay as far back
    as champion decisions stay on disk."""
    config = environment_config(env, conf_source=project / "conf")
    store = in_project(config["mlflow"]["server"]["mlflow_tracking_uri"], project)
    decisions = project / config["catalog"]["champion_decision"]["filepath"]
    going = {folder for old in doomed for folder in old.old}
    recorded = []
    for path in sorted(decisions.glob(f"*/{decisions.name}")):
        if path.parent in going:
            continue
        try:
            recorded.append(json.loads(path.read_text()))
        except (OSError, ValueError) as error:
            raise click.ClickException(
                f"{path} cannot be read ({error}): it may name a champion to keep; nothing removed"
            ) from None
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    return client, old_model_versions(client, keep, protected_versions(config["parameters"], recorded))


def _size(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"
