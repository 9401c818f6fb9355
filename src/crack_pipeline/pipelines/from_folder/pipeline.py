"""`from_folder`: ingest -> split -> train -> evaluate -> explain on `data.source_dir`.

A module of its own rather than a sum in the registry: Kedro loads only the modules named by
`--pipelines`, so a composite must be importable by its name.
"""

from kedro.pipeline import Pipeline

from crack_pipeline.config import variant_names
from crack_pipeline.pipelines import evaluate, explain, ingest, split, train


def create_pipeline(**kwargs) -> Pipeline:
    selected = variant_names()
    stages = [
        ingest.create_pipeline(),
        split.create_pipeline(),
        train.create_pipeline(variants=selected),
        evaluate.create_pipeline(),
        explain.create_pipeline(),
    ]
    return sum(stages, Pipeline([]))
