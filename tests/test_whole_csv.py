"""WholeCSVDataset: a version is written whole or not at all."""

import pandas as pd
import pytest
from kedro.io.core import DatasetError, Version

from crack_pipeline.datasets import WholeCSVDataset


def test_a_failed_save_leaves_no_version_and_a_good_one_reads_back(tmp_path):
    table = tmp_path / "image_index.csv"
    # A row no file can hold (an undecodable name kept as a surrogate) after rows that can.
    bad = pd.DataFrame({"path": [f"ok_{i}.png" for i in range(5000)] + ["latin1_\udce9.png"]})
    with pytest.raises(
        DatasetError, match="surrogates not allowed"
    ):  # pandas.CSVDataset kept the 5,000 before
        WholeCSVDataset(filepath=str(table), version=Version(None, "2026-12-01T00.00.00.000Z")).save(bad)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()], "no version, whole or truncated"

    good = pd.DataFrame({"path": ["a.png", "b.png"], "label": ["crack", "no_crack"]})
    saved = WholeCSVDataset(filepath=str(table), version=Version(None, None), save_args={"index": False})
    saved.save(good)
    pd.testing.assert_frame_equal(
        WholeCSVDataset(filepath=str(table), version=Version(None, None)).load(), good
    )
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["image_index.csv"], "no partial file left"
