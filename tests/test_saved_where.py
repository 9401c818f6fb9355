"""Where a run put what a user opens next, said in the log (crack_pipeline.saved_where)."""

from __future__ import annotations

import logging

from kedro.io import DataCatalog, Version
from kedro_datasets.matplotlib import MatplotlibDataset
from matplotlib.figure import Figure

from crack_pipeline.datasets import WholeJSONDataset
from crack_pipeline.saved_where import SavedWhereHook


def test_a_saved_entry_is_said_with_its_path_in_the_project_under_the_environment_s_data_root(
    tmp_path, caplog
):
    """evaluate_folder logged its figures, but not where metrics.json, label_these_next.csv or the contact
    sheet went (under data/general/... in the general environment, in a folder named by the run's start)."""
    reports = tmp_path / "data/general/08_reporting/evaluate_folder"
    said = {"said_where": "evaluate_folder"}
    catalog = DataCatalog(
        {
            "metrics": WholeJSONDataset(
                filepath=str(reports / "metrics.json"), version=Version(None, "v1"), metadata=said
            ),
            "plots": MatplotlibDataset(
                filepath=str(reports / "plots"), version=Version(None, "v1"), metadata=said
            ),
            "unsaid": WholeJSONDataset(filepath=str(tmp_path / "other.json"), version=Version(None, "v1")),
        }
    )
    hook = SavedWhereHook()
    hook.before_pipeline_run(run_params={"project_path": str(tmp_path)}, catalog=catalog)
    caplog.set_level(logging.INFO, logger="crack_pipeline.saved_where")
    catalog.save("metrics", {"n": 3})
    catalog.save("plots", {"label_these_next.png": Figure(), "roc_pr.png": Figure()})
    catalog.save("unsaid", {})
    for name in ("metrics", "plots", "unsaid"):
        hook.after_dataset_saved(dataset_name=name)
    assert [r.getMessage() for r in caplog.records if r.name == "crack_pipeline.saved_where"] == [
        "evaluate_folder: metrics.json in data/general/08_reporting/evaluate_folder/metrics.json/v1/"
        "metrics.json",
        "evaluate_folder: plots in data/general/08_reporting/evaluate_folder/plots/v1/plots/ "
        "(label_these_next.png, roc_pr.png)",
    ]
