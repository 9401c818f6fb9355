"""The `train` pipeline: one shared tensor cache, then one namespaced pipeline per model variant.

The variants are the names listed in `train.variants` (conf/base/parameters_train.yml); each is a
namespace, so `kedro run --pipelines=train --namespaces=squeezenet1_1` trains one of them.
"""

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline, pipeline

from crack_pipeline.config import variant_names
from crack_pipeline.pipelines.train.nodes import build_split_tensors, train_variant


def variant_pipeline(name: str) -> Pipeline:
    train_this = update_wrapper(partial(train_variant, name=name), train_variant)
    template = Pipeline(
        [
            Node(
                func=train_this,
                inputs=["split_tensors", "split_manifest", "params:variant", "params:train"],
                outputs=["checkpoint", "training_history", "training_curves"],
                name="train_variant",
                tags=["train_variant"],
            )
        ]
    )
    return pipeline(
        template,
        namespace=name,
        inputs={"split_tensors", "split_manifest"},
        parameters={"params:variant": f"params:train.models.{name}", "params:train": "params:train"},
    )


def create_pipeline(**kwargs) -> Pipeline:
    shared = Pipeline(
        [
            Node(
                func=build_split_tensors,
                inputs=["raw_images", "split_manifest", "params:train"],
                outputs="split_tensors",
                name="build_split_tensors",
            )
        ]
    )
    return sum((variant_pipeline(name) for name in variant_names()), shared)
