"""The `explain` pipeline: heatmaps for the champion's decisions on the test split, and their quality."""

from kedro.pipeline import Node, Pipeline

from crack_pipeline.pipelines.explain.nodes import explain_split

# What an explanation run writes, whichever node makes it (this pipeline's, or retrain's sample).
EXPLAIN_OUTPUTS = [
    "explanations",
    "explain_predictions",
    "explain_boxes",
    "crack_measurements",
    "explain_quality",
]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=explain_split,
                inputs=[
                    "explain_model",
                    "split_manifest",
                    "explain_input",
                    "explain_masks",
                    "champion",
                    "params:explain",
                    "params:tiling",
                    "params:ingest",
                    "params:device",
                    "latest_crack_segmenter",
                    "params:segmenter",
                ],
                outputs=EXPLAIN_OUTPUTS,
                name="explain_split",
                tags=["explain"],
            )
        ]
    )
