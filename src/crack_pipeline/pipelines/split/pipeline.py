"""The `split` pipeline: image index -> versioned train/val/test manifest."""

from kedro.pipeline import Node, Pipeline

from crack_pipeline.pipelines.split.nodes import split_images


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=split_images,
                inputs=["image_index", "params:split", "params:train"],
                outputs=["split_manifest", "split_counts"],
                name="split_images",
            )
        ]
    )
