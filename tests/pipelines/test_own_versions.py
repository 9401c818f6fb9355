"""A run reads back its own versions: not a newer one that a run started after it saved meanwhile."""

from __future__ import annotations

import pandas as pd
from kedro.framework.hooks import hook_impl
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io.core import Version, generate_timestamp

from crack_pipeline.datasets import WholeCSVDataset
from tests.conftest import image_bytes, write


class AnotherRunSavesFirst:
    """Just before this run saves the image index, a run started later (its version newer) saves its own."""

    @hook_impl
    def before_dataset_saved(self, dataset_name: str, data: pd.DataFrame) -> None:
        if dataset_name == "image_index":
            other = WholeCSVDataset(
                filepath="data/02_intermediate/image_index.csv",
                version=Version(None, generate_timestamp()),
                save_args={"index": False},
            )
            other.save(data.head(1))


def test_a_run_reads_its_own_version_of_what_it_saved_not_a_newer_one_of_another_run(kedro_project):
    for index in range(3):
        write(kedro_project / "photos", f"Positive/c{index}.png", image_bytes(seed=index))
        write(kedro_project / "photos", f"Negative/n{index}.png", image_bytes(seed=10 + index))
    bootstrap_project(kedro_project)
    params = {"data": {"source_dir": str(kedro_project / "photos")}}
    with KedroSession.create(project_path=kedro_project, runtime_params=params) as session:
        session._hook_manager.register(AnotherRunSavesFirst())
        session.run(pipeline_names=["ingest"])

    (counts,) = (kedro_project / "data/08_reporting/eda/class_counts.csv").glob("*/class_counts.csv")
    # Kedro's "latest" was the other run's one-image index: this run's counts were of its image.
    assert pd.read_csv(counts).select_dtypes("number").to_numpy().sum() == 6
