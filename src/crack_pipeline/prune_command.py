"""`kedro prune`: removes old versions of the outputs (pruning) and, asked to, of the registered models
(registry_pruning) and old runs' explanation grids (run_pruning). It lists and asks without a lock; it
removes holding the versions lock alone, so never while a run may use what it removes, and lists again
under it (a run may have ended meanwhile)."""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click
from kedro.config import MissingConfigException
from kedro.framework.startup import ProjectMetadata
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sqlalchemy.engine import make_url

from crack_pipeline.config import environment_config, in_project
from crack_pipeline.live_runs import close_abandoned_runs
from crack_pipeline.pruning import OldVersions, folder_size, old_versions, remove, versioned_outputs
from crack_pipeline.run_guard import VERSIONS_LOCK, RunLock, RunLocked
from crack_pipeline.store_check import experiment_name, moved_store_problem

# The registry's pruning is imported where it is used: it brings torch (through tracking), which every kedro
# command (they all import this one) took 3 s to load.
if TYPE_CHECKING:
    from crack_pipeline.registry_pruning import OldModelVersion
    from crack_pipeline.run_pruning import OldGrids
    from crack_pipeline.unregistered_pruning import UnregisteredRun


@dataclass(frozen=True)
class ModelStore:
    """An environment's MLflow store, and where its champion decisions and surveys lie."""

    client: MlflowClient
    uri: str  # the store's, for `mlflow gc`
    parameters: dict
    decisions: Path  # the champion_decision.json output
    surveys: Path  # the folder of the surveys
    experiment: str  # the kedro-mlflow experiment of the project's runs


@dataclass
class Plan:
    outputs: int
    versions: list[OldVersions]
    models: list[OldModelVersion] = field(default_factory=list)
    grids: list[OldGrids] = field(default_factory=list)
    unregistered: list[UnregisteredRun] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(old.size for old in [*self.versions, *self.models, *self.grids, *self.unregistered])

    @property
    def empty(self) -> bool:
        return not (self.versions or self.models or self.grids or self.unregistered)

    def within(self, listed: Plan) -> Plan:
        """This plan without what `listed` did not remove."""
        folders = {folder for old in listed.versions for folder in old.old}
        versions = []
        for old in self.versions:
            shown = tuple(folder for folder in old.old if folder in folders)
            if shown == old.old:
                versions.append(old)
            elif shown:  # measured again only where folders were not listed (a walk of each, under the lock)
                versions.append(dataclasses.replace(old, old=shown, size=sum(map(folder_size, shown))))
        models = {old.version for old in listed.models}
        runs = {old.run_id for old in listed.grids}
        unregistered = {old.run_id for old in listed.unregistered}
        return Plan(
            self.outputs,
            versions,
            [old for old in self.models if old.version in models],
            [old for old in self.grids if old.run_id in runs],
            [old for old in self.unregistered if old.run_id in unregistered],
        )

    def summary(self) -> str:
        count = sum(len(old.old) for old in self.versions)
        models = f", {_counted(len(self.models), 'old registered version')}" if self.models else ""
        grids = f", the explanation grids of {_counted(len(self.grids), 'old run')}" if self.grids else ""
        runs = _counted(len(self.unregistered), "unregistered run")
        unregistered = f", the files of {runs}" if self.unregistered else ""
        listed = f"{_counted(count, 'old version')}{models}{grids}{unregistered}"
        return f"{_counted(self.outputs, 'output')}: {listed}, {_size(self.size)}"


def _counted(count: int, thing: str) -> str:
    """`1 old run`, `2 old runs`: the summary said `1 old runs`."""
    return f"{count} {thing}{'' if count == 1 else 's'}"


@click.command()
@click.option(
    "--keep", type=click.IntRange(min=1), required=True, help="How many newest versions of each output stay."
)
@click.option(
    "--path",
    "folders",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Only the outputs under this folder of the project's data/ (repeatable; default: all of data/).",
)
@click.option(
    "--models",
    is_flag=True,
    help="Also the registered models of the environment's MLflow store: the newest KEEP of each variant "
    "stay, and the champion, those init_from names (in the configuration or a recorded run's --params), "
    "earlier champions the kept champion decisions record and the model of every survey on disk; the "
    "explanation grids of all but the newest KEEP runs that hold some, and the files of variants' runs "
    "whose model was never registered (their parameters and metrics stay).",
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
    data = Path(os.path.abspath(project / "data"))
    # Where the path lies under data/ (a link there to a bigger disk is data/'s too), not where it leads.
    folders = tuple(Path(os.path.abspath(folder)) for folder in folders) or (data,)
    outside = [folder for folder in folders if not folder.is_relative_to(data)]
    if outside:
        raise click.ClickException(
            f"--path {outside[0]} is not inside {data}: prune removes only versions this project's runs "
            "guard (they hold its data/versions.lock)"
        )
    store = _model_store(project, env) if models else None
    if store is not None and not dry_run:  # runs shown running whose kedro run was killed: said in a warning
        close_abandoned_runs(project, "kedro prune", store.client)
    plan = _plan(folders, keep, store, project)
    for line in _listed(plan, project):
        click.echo(line)
    if dry_run or plan.empty:
        click.echo(f"{plan.summary()}; nothing removed{'' if plan.empty else ' (dry run)'}")
        return
    if not yes:
        if not sys.stdin.isatty():
            raise click.ClickException(f"{plan.summary()}; nothing removed: add --yes to remove them unasked")
        click.confirm(f"{plan.summary()}: remove them?", abort=True)
    lock = RunLock(project / VERSIONS_LOCK)
    try:
        lock.acquire("kedro prune")
    except RunLocked:
        raise click.ClickException(
            f"a kedro run (or another prune) holds {lock.path}: nothing removed; prune once it has finished"
        ) from None
    try:
        # Listed again under the lock, as a run may have saved meanwhile; only what both listings hold
        # goes (what the user saw), the rest at the next prune.
        plan = _plan(folders, keep, store, project).within(plan)
        problems = _apply(plan, store)
    finally:
        lock.release()
    for problem in problems:
        click.echo(f"not removed: {problem}", err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} could not be removed (listed above)")
    click.echo(f"{plan.summary()}; removed")


def _model_store(project: Path, env: str) -> ModelStore | None:
    """The environment's store; None where it has none yet (a SQLite file not made: nothing registered)."""
    try:
        config = environment_config(env, conf_source=project / "conf")
        uri = in_project(config["mlflow"]["server"]["mlflow_tracking_uri"], project)
        catalog, parameters = config["catalog"], config["parameters"]
        experiment = experiment_name(config["mlflow"])  # as kedro-mlflow names it where mlflow.yml does not
    except (MissingConfigException, KeyError, ValueError) as error:
        raise click.ClickException(f"--env {env}: its configuration cannot be read ({error})") from None
    if uri.startswith("sqlite:") and not Path(make_url(uri).database or "").exists():
        return None
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    if problem := moved_store_problem(project, client, experiment):  # its files' folder gone: none found
        raise click.ClickException(f"{problem}; nothing removed")
    decisions, surveys = catalog["champion_decision"]["filepath"], catalog["survey_progress"]["path"]
    return ModelStore(client, uri, parameters, project / decisions, (project / surveys).parent, experiment)


def _plan(folders: tuple[Path, ...], keep: int, store: ModelStore | None, project: Path) -> Plan:
    outputs = [output for folder in folders for output in versioned_outputs(folder)]
    versions = [old for old in (old_versions(output, keep) for output in outputs) if old.old]
    plan = Plan(len(outputs), sorted(versions, key=lambda old: old.output))
    if store is not None:
        from crack_pipeline.registry_pruning import (
            old_model_versions,
            protected_versions,
            recorded_in,
            started_from,
        )
        from crack_pipeline.run_pruning import old_grids
        from crack_pipeline.unregistered_pruning import unregistered_runs
        from crack_pipeline.vision.explain.survey import MANIFEST as SURVEY_MANIFEST

        going = {folder for old in versions for folder in old.old}
        decided = [
            path
            for path in sorted(store.decisions.glob(f"*/{store.decisions.name}"))
            if path.parent not in going
        ]
        try:
            protected = protected_versions(
                store.parameters,
                recorded_in(decided),
                recorded_in(store.surveys.rglob(SURVEY_MANIFEST)),
            )
        except ValueError as error:
            raise click.ClickException(f"{error}; nothing removed") from None
        try:
            protected |= started_from(store.client, store.experiment)
            plan.models = old_model_versions(store.client, keep, protected)
            plan.grids = old_grids(store.client, keep, store.experiment)
            plan.unregistered = unregistered_runs(store.client, store.experiment, project)
        except MlflowException as error:
            raise click.ClickException(
                f"the MLflow store cannot be read ({error}); nothing removed"
            ) from None
    return plan


def _apply(plan: Plan, store: ModelStore | None) -> list[str]:
    """Removes what `plan` lists; the problems met, after trying everything."""
    from crack_pipeline.registry_pruning import purge, remove_model_version
    from crack_pipeline.run_pruning import remove_grids
    from crack_pipeline.unregistered_pruning import remove_unregistered

    problems = [problem for old in plan.versions for problem in remove(old)]
    removed = []
    for old in plan.models:
        try:
            remove_model_version(store.client, old)
        except (MlflowException, OSError) as error:
            problems.append(f"registered version {old.version}: {error}")
        else:
            removed.append(old)
    if removed and (trouble := purge(store.uri, removed)):
        # Removed all the same (their files and registry entries): only their rows stay, marked deleted.
        click.echo(f"their runs stay in the store marked deleted (mlflow gc: {trouble})", err=True)
    for old in plan.grids:
        try:
            remove_grids(store.client, old)
        except (MlflowException, OSError) as error:
            problems.append(f"the explanation grids of run {old.run_id}: {error}")
    for old in plan.unregistered:
        try:
            remove_unregistered(store.client, old)
        except (MlflowException, OSError) as error:
            problems.append(f"the files of run {old.run_id}: {error}")
    return problems


def _listed(plan: Plan, project: Path) -> list[str]:
    lines = []
    for old in plan.versions:
        shown = old.output.relative_to(project) if old.output.is_relative_to(project) else old.output
        span = " … ".join(dict.fromkeys((old.old[0].name, old.old[-1].name)))
        lines.append(f"{shown}: removes {len(old.old)} ({span}, {_size(old.size)}), keeps {len(old.kept)}")
    for old in plan.models:
        parts = [
            part
            for part, there in (("its run", old.run_id), ("its exported model", old.logged_model_id))
            if there
        ]
        also = f" with {' and '.join(parts)}" if parts else ""
        lines.append(
            f"registered version {old.version} ({old.variant}): removes it{also} ({_size(old.size)})"
        )
    for old in plan.grids:
        lines.append(
            f"MLflow run {old.run_name} ({old.started} UTC): removes its explanation grids "
            f"({_size(old.size)}), keeps its parameters and metrics"
        )
    for old in plan.unregistered:
        model = " and its exported model" if old.models else ""
        lines.append(
            f"MLflow run {old.run_name} ({old.started} UTC, {old.status}), its model never registered: "
            f"removes its files{model} ({_size(old.size)}), keeps its parameters and metrics"
        )
    return lines


def _size(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"
