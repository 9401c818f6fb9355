"""The `synth` pipeline: renders the built-in synthetic data set with its crack masks."""

from kedro.pipeline import Node, Pipeline

from crack_pipeline.pipelines.synth.nodes import generate_synthetic_images


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=generate_synthetic_images,
                inputs=["params:synth", "params:data"],
                outputs=["synthetic_images", "synthetic_masks"],
                name="generate_synthetic_images",
            )
        ]
    )
