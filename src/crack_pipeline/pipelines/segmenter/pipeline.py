"""The `segmenter` pipeline: trains the crack segmenter that `explain` and `survey` mask cracks with, and
adapts it to a folder of photos when `segmenter_adaptation.folder` names one (part of `__default__` and
`from_folder`; run it alone before `explain` or `survey` on their own)."""

from kedro.pipeline import Node, Pipeline

from crack_pipeline.pipelines.segmenter.nodes import adapt_crack_segmenter, train_crack_segmenter


def adaptation_node() -> Node:
    """Adapts `synthetic_crack_segmenter` into `crack_segmenter` (this pipeline's, and retrain's)."""
    return Node(
        func=adapt_crack_segmenter,
        inputs=[
            "synthetic_crack_segmenter",
            "previous_crack_segmenter",
            "segmenter_adaptation_photos",
            "params:segmenter_adaptation",
            "params:explain",
            "params:tiling",
            "params:ingest",
            "params:device",
        ],
        outputs="crack_segmenter",
        name="adapt_crack_segmenter",
        tags=["segmenter"],
    )


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=train_crack_segmenter,
                inputs=["params:segmenter", "params:device", "previous_crack_segmenter"],
                outputs="synthetic_crack_segmenter",
                name="train_crack_segmenter",
                tags=["segmenter"],
            ),
            adaptation_node(),
        ]
    )
