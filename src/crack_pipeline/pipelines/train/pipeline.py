"""The `train` pipeline: one shared tensor cache, then one namespaced pipeline per model variant that trains
it and evaluates it on the test split.

Registered as `train`, it holds every variant defined under `train.models`, so that
`kedro run --pipelines=train --namespaces=squeezenet1_1` trains and evaluates any one of them; the default
and `from_folder` runs build it with only the variants selected in `train.variants`.
"""

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline, pipeline

from crack_pipeline.config import project_parameters
from crack_pipeline.pipelines.evaluate.nodes import evaluate_variant
from crack_pipeline.pipelines.train.nodes import build_split_tensors, train_variant

# What every variant reads under its own name, outside its namespace.
_SHARED_INPUTS = ("split_tensors", "split_manifest", "image_index", "registered_models", "explain_masks")


def variant_pipeline(name: str, starts_from: str | None = None) -> Pipeline:
    """Variant `name` trained and evaluated, in its namespace; after variant `starts_from` of the same run
    (its `init_from`), whose checkpoint is then an input: Kedro's order among variants is otherwise free,
    and `name` started from that variant's earlier model when it ran first."""
    train_this = update_wrapper(partial(train_variant, name=name), train_variant)
    after = {"init_source": f"{starts_from}.checkpoint"} if starts_from else {}
    template = Pipeline(
        [
            Node(
                func=train_this,
                inputs=[
                    "split_tensors",
                    "split_manifest",
                    "image_index",
                    "registered_models",
                    "explain_masks",
                    "params:variant",
                    "params:train",
                    "params:device",
                    *after,
                ],
                outputs=["checkpoint", "training_history", "training_curves"],
                name="train_variant",
                tags=["train_variant"],
            ),
            Node(
                func=evaluate_variant,
                inputs=["checkpoint", "split_tensors", "split_manifest", "params:train", "params:device"],
                outputs=["evaluation_metrics", "predictions", "submission", "evaluation_plots"],
                name="evaluate_variant",
                tags=["evaluate_variant"],
            ),
        ]
    )
    return pipeline(
        template,
        namespace=name,
        inputs={**{shared: shared for shared in _SHARED_INPUTS}, **after},
        parameters={
            "params:variant": f"params:train.models.{name}",
            "params:train": "params:train",
            "params:device": "params:device",
        },
    )


def create_pipeline(variants: list[str] | None = None, **kwargs) -> Pipeline:
    """The tensor cache and one namespaced training pipeline per variant (default: all defined)."""
    shared = Pipeline(
        [
            Node(
                func=build_split_tensors,
                inputs=["split_manifest", "params:train", "previous_split_tensors"],
                outputs="split_tensors",
                name="build_split_tensors",
            )
        ]
    )
    # Read once: outside a session each read loads the configuration from disk.
    models = project_parameters().get("train", {}).get("models", {})
    names = list(models) if variants is None else variants
    return sum(
        (variant_pipeline(name, _same_run_source(name, models.get(name), names)) for name in names), shared
    )


def _same_run_source(name: str, variant: object, names: list[str]) -> str | None:
    """The variant among `names` that `name`'s `init_from` names (not itself: its own earlier model)."""
    source = variant.get("init_from") if isinstance(variant, dict) else None
    return source if isinstance(source, str) and source != name and source in names else None
