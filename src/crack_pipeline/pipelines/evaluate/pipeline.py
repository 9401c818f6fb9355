"""The `evaluate` pipeline: every variant evaluated on the current split side by side, the champion
decision, and its promotion in the MLflow model registry.

Each variant is evaluated on the test split as soon as it is trained (its namespace in `train`), so a
variant trained alone with `--namespaces` is compared like the others by `kedro run --pipelines=evaluate`.
"""

import warnings

from kedro.pipeline import Node, Pipeline

from crack_pipeline.config import model_names
from crack_pipeline.pipelines.evaluate.nodes import compare_variants, promote_champion


def create_pipeline(**kwargs) -> Pipeline:
    with warnings.catch_warnings():
        # "<variant>.evaluation_metrics" and ".predictions" are the variants' namespaced outputs, read by name
        # on purpose: Kedro's warning against dots in dataset names is meant for names a user chooses. (Kedro
        # warns once a process, so a dotted name a user adds later goes unwarned too.)
        warnings.filterwarnings("ignore", "One or more dataset names contain '.'", UserWarning)
        compare = Node(
            func=compare_variants,
            inputs=[
                "params:evaluate",
                "params:train",
                "current_champion",
                "last_champion_decision",
                "split_manifest",
                "split_tensors",
                "params:device",
                *(f"{name}.evaluation_metrics" for name in model_names()),
                *(f"{name}.predictions" for name in model_names()),
            ],
            outputs=["variant_comparison", "variant_comparison_markdown", "champion_decision"],
            name="compare_variants",
            tags=["compare_variants"],
        )
    return Pipeline(
        [
            compare,
            Node(
                func=promote_champion,
                inputs="champion_decision",
                outputs="champion",
                name="promote_champion",
                tags=["promote_champion"],
            ),
        ]
    )
