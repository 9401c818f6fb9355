"""`retrain`: ingest the current data and, only when it changed, split, train, evaluate, promote, explain.

Meant to run unattended (`make schedule`): the `RetrainGuardHook` adds a lock and a log file per run.
"""

from kedro.pipeline import Node, Pipeline

from crack_pipeline.config import variant_names
from crack_pipeline.pipelines import evaluate, ingest, train
from crack_pipeline.pipelines.explain.pipeline import EXPLAIN_OUTPUTS
from crack_pipeline.pipelines.retrain.nodes import (
    check_for_new_data,
    crack_segmenter_after_decision,
    explain_sample,
    split_for_retrain,
)
from crack_pipeline.pipelines.segmenter.pipeline import adaptation_node


def create_pipeline(**kwargs) -> Pipeline:
    selected = variant_names()
    decide = Pipeline(
        [
            Node(
                func=check_for_new_data,
                inputs=["image_index", "current_champion", "last_champion_decision", "params:retrain"],
                outputs="retrain_decision",
                name="check_for_new_data",
            ),
            Node(
                func=split_for_retrain,
                inputs=[
                    "image_index",
                    "previous_split_manifest",
                    "retrain_decision",
                    "params:split",
                    "params:train",
                ],
                outputs=["split_manifest", "split_counts"],
                name="split_for_retrain",
            ),
        ]
    )
    segmenter = Node(
        func=crack_segmenter_after_decision,
        inputs=["params:segmenter", "params:device", "previous_crack_segmenter", "retrain_decision"],
        outputs="synthetic_crack_segmenter",
        name="train_crack_segmenter",
    )
    explain = Node(
        func=explain_sample,
        inputs=[
            "explain_model",
            "split_manifest",
            "explain_masks",
            "champion",
            "params:explain",
            "params:tiling",
            "params:ingest",
            "params:retrain",
            "params:device",
            "crack_segmenter",
        ],
        outputs=EXPLAIN_OUTPUTS,
        name="explain_sample",
        tags=["explain"],
    )
    return (
        ingest.create_pipeline()
        + decide
        + train.create_pipeline(variants=selected)
        + evaluate.create_pipeline()
        + Pipeline([segmenter, adaptation_node(), explain])
    )
