"""`from_folder`: ingest -> split -> train -> evaluate -> (crack segmenter) -> explain on `data.source_dir`.

A module of its own rather than a sum in the registry: Kedro loads only the modules named by
`--pipelines`, so a composite must be importable by its name.
"""

from kedro.pipeline import Pipeline, pipeline

from crack_pipeline.config import variant_names
from crack_pipeline.pipelines import evaluate, explain, ingest, segmenter, split, train


def create_pipeline(**kwargs) -> Pipeline:
    selected = variant_names()
    stages = [
        ingest.create_pipeline(),
        split.create_pipeline(),
        train.create_pipeline(variants=selected),
        evaluate.create_pipeline(),
        segmenter.create_pipeline(),
        # The segmenter this run trains (or reuses), not merely the latest before it.
        pipeline(explain.create_pipeline(), inputs={"latest_crack_segmenter": "crack_segmenter"}),
    ]
    return sum(stages, Pipeline([]))
