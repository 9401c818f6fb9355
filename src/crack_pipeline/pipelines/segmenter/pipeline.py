"""The `segmenter` pipeline: trains the crack segmenter that `explain` and `survey` mask cracks with (part
of `__default__` and `from_folder`; run it alone before `explain` or `survey` on their own)."""

from kedro.pipeline import Node, Pipeline

from crack_pipeline.pipelines.segmenter.nodes import train_crack_segmenter


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=train_crack_segmenter,
                inputs=["params:segmenter", "params:device", "previous_crack_segmenter"],
                outputs="crack_segmenter",
                name="train_crack_segmenter",
                tags=["segmenter"],
            )
        ]
    )
