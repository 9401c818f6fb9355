"""`kedro run`'s node filters (`--namespaces`, `--nodes`, `--from-nodes`, `--to-nodes`, `--tags`) naming
nothing in the pipelines run, said as the option, the name and what those pipelines hold: Kedro raised a
`ValueError` there, which printed a page of traceback (`--namespaces=squeezenet` for `squeezenet1_1`); and
the pipelines that make a catalog entry, for a message's command to run first."""

from __future__ import annotations

import ast
from typing import Any

from kedro.framework.project import pipelines
from kedro.pipeline import Pipeline

from crack_pipeline.vision.errors import InputError

# Kedro's own words, the start of each filter's error (kedro.pipeline.Pipeline.filter and what it calls).
NO_NAMESPACE = "Pipeline does not contain nodes with the following namespaces"
NO_NODE = "Pipeline does not contain nodes named"
NONE_LEFT = "Pipeline contains no nodes after applying all provided filters"
NODE_OPTIONS = {"node_names": "--nodes", "from_nodes": "--from-nodes", "to_nodes": "--to-nodes"}


def filter_mistake(error: BaseException, options: dict[str, Any]) -> InputError | None:
    """The `InputError` for a filter of `kedro run`'s `options` that left Kedro's `error`; None for any
    other error."""
    if not isinstance(error, ValueError) or not str(error).startswith((NO_NAMESPACE, NO_NODE, NONE_LEFT)):
        return None
    names = options.get("pipelines") or ["__default__"]
    run = Pipeline([pipelines[name] for name in names])
    shown = "pipeline " + ", ".join(names) if options.get("pipelines") else "the default pipeline"
    if str(error).startswith(NO_NAMESPACE):
        held = sorted({node.namespace.split(".")[0] for node in run.nodes if node.namespace})
        unknown = ast.literal_eval(str(error)[len(NO_NAMESPACE) :].lstrip(": "))  # Kedro's list of them
        return InputError(
            f"--namespaces: {shown} has no namespace {', '.join(map(repr, unknown))}; "
            f"its namespaces (one a model variant each): {', '.join(held) or 'none'} (--pipelines=train "
            "holds every variant under train.models)"
        )
    if str(error).startswith(NO_NODE):
        held = sorted(node.name for node in run.nodes)
        said = [
            f"{option}: {shown} has no node {', '.join(map(repr, missing))}"
            for key, option in NODE_OPTIONS.items()
            if (missing := [name for name in options.get(key) or () if name not in held])
        ]
        return InputError(f"{'; '.join(said)}; its nodes: {', '.join(held)}")
    tags = sorted({tag for node in run.nodes for tag in node.tags})
    return InputError(
        f"no node of {shown} is left after the filters given (--tags, --namespaces, --nodes, ...); "
        f"its tags: {', '.join(tags) or 'none'}"
    )


def pipelines_making(name: str) -> list[str]:
    """The project's pipelines (`__default__` left out) whose nodes make the catalog entry `name`, the
    smallest first; [] where a pipeline cannot be built."""
    pipelines.set_requested(None)  # every pipeline: a run loads those it runs only
    try:
        makers = [
            made for made, pipe in pipelines.items() if made != "__default__" and name in pipe.all_outputs()
        ]
    except Exception:  # a pipeline that cannot be built: the run's own error says why
        return []
    return sorted(makers, key=lambda made: len(pipelines[made].nodes))
