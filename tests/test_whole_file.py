"""WholeCSVDataset and WholeJSONDataset: a version is written whole or not at all, and read only whole."""

import codecs
import csv
import errno
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from kedro.io.core import DatasetError, Version

from crack_pipeline.datasets import (
    CrackSegmenterDataset,
    OptionalCSVDataset,
    OptionalJSONDataset,
    PreviousCSVDataset,
    PreviousJSONDataset,
    WholeCSVDataset,
    WholeJSONDataset,
)


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
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [
        ".image_index.csv.sha256",
        "image_index.csv",
    ], "no partial file left"


def test_a_full_disk_leaves_no_version_and_no_partial_file(tmp_path, monkeypatch):
    decision = WholeJSONDataset(
        filepath=str(tmp_path / "champion_decision.json"), version=Version(None, None)
    )
    real_open = decision._fs.open

    def disk_full_after_a_few_bytes(path, mode="rb", **kwargs):
        file = real_open(path, mode=mode, **kwargs)
        if "w" in mode:
            file.write(b'{"promot')
            file.close()
            raise OSError(errno.ENOSPC, "No space left on device", path)
        return file

    monkeypatch.setattr(decision._fs, "open", disk_full_after_a_few_bytes)
    with pytest.raises(DatasetError, match="No space left on device"):
        decision.save({"promoted": True})
    assert not [p for p in tmp_path.rglob("*") if p.is_file()], "neither a cut version nor a partial file"


def test_a_version_damaged_after_it_was_written_is_named_with_what_to_do(tmp_path):
    manifest = tmp_path / "split_manifest.csv"
    table = pd.DataFrame({"path": [f"{i}.png" for i in range(100)], "split": ["train"] * 100})
    WholeCSVDataset(filepath=str(manifest), version=Version(None, None), save_args={"index": False}).save(
        table
    )
    (written,) = manifest.glob("*/split_manifest.csv")
    written.write_bytes(written.read_bytes()[:400])  # cut at a row's end: pandas reads a shorter table
    assert len(pd.read_csv(written)) < 100
    for reader in (WholeCSVDataset, PreviousCSVDataset):
        with pytest.raises(
            DatasetError, match=rf"{written} is damaged \(its content is not what was written"
        ):
            reader(filepath=str(manifest), version=Version(None, None)).load()

    metrics = tmp_path / "evaluation_metrics.json"
    OptionalJSONDataset(filepath=str(metrics), version=Version(None, None)).save({"accuracy": 0.99})
    (written,) = metrics.glob("*/evaluation_metrics.json")
    assert json.loads(written.read_text()) == {"accuracy": 0.99}
    written.write_bytes(b"")  # as a save before digests were kept left it on a full disk
    next(metrics.glob("*/.evaluation_metrics.json.sha256")).unlink()
    with pytest.raises(
        DatasetError,
        match=rf"{written} is damaged \(it does not read: Expecting value: .*move its version folder",
    ):
        OptionalJSONDataset(filepath=str(metrics), version=Version(None, None)).load()


def test_a_version_that_is_not_there_is_not_called_damaged(tmp_path):
    metrics = tmp_path / "evaluation_metrics.json"
    WholeJSONDataset(filepath=str(metrics), version=Version(None, None)).save({"accuracy": 0.99})
    pinned = WholeJSONDataset(filepath=str(metrics), version=Version("2026-09-09T00.00.00.000Z", None))
    with pytest.raises(DatasetError) as caught:  # a --load-versions typo
        pinned.load()
    assert "No such file" in str(caught.value) and "damaged" not in str(caught.value)


def test_a_pinned_version_that_is_not_there_stops_the_views_that_load_none_before_the_first(tmp_path):
    saved, typo = "2026-09-09T00.00.00.000Z", "2026-09-09T00.00.00.001Z"
    metrics, segmenter = str(tmp_path / "evaluation_metrics.json"), str(tmp_path / "segmenter.pt")
    assert OptionalJSONDataset(filepath=metrics, version=Version(None, None)).load() is None, "none yet"
    OptionalJSONDataset(filepath=metrics, version=Version(None, saved)).save({"accuracy": 0.99})
    CrackSegmenterDataset(filepath=segmenter, version=Version(None, saved)).save({"format": "x"})
    views = [
        (OptionalJSONDataset, metrics, {}),
        (PreviousJSONDataset, metrics, {}),
        (CrackSegmenterDataset, segmenter, {"read_only": True}),
        (CrackSegmenterDataset, segmenter, {"read_only": True, "damaged_as_none": True}),
    ]
    for view, path, options in views:
        assert view(filepath=path, version=Version(saved, None), **options).load() is not None
        # A --load-versions typo: read as "none yet", it left the variant out of the comparison silently.
        with pytest.raises(DatasetError, match=rf"has no version '{typo}' \(--load-versions\).*{saved}"):
            view(filepath=path, version=Version(typo, None), **options).load()


@pytest.mark.parametrize(
    "entry",
    [
        "explain_predictions",
        "explain_boxes",
        "crack_measurements",
        "survey_predictions",
        "survey_boxes",
        "survey_measurements",
        "evaluate_folder_predictions",  # read 0.04826631024479866
        "evaluate_folder_label_next",
    ],
)
def test_the_tables_an_inspector_reads_show_no_floating_point_noise(tmp_path, entry):
    """crack_measurements.csv read `max_width_mm 1.4000000000000001` for 7 px at 0.2 mm/px."""
    catalog = yaml.safe_load((Path(__file__).resolve().parents[1] / "conf/base/catalog.yml").read_text())
    table = pd.DataFrame({"max_width_mm": [7 * 0.2], "crack_probability": [0.32455151701685225]})
    WholeCSVDataset(filepath=str(tmp_path / "table.csv"), save_args=catalog[entry]["save_args"]).save(table)
    assert (tmp_path / "table.csv").read_text(encoding="utf-8-sig").splitlines() == [
        "max_width_mm,crack_probability",
        "1.4,0.324551517",
    ]


@pytest.mark.parametrize(
    "entry",
    [
        "explain_predictions",
        "crack_measurements",
        "survey_measurements",
        "evaluate_folder_label_next",
        "evaluate_folder_predictions",
    ],
)
def test_the_tables_an_inspector_reads_name_photos_in_any_script_in_a_spreadsheet(tmp_path, entry):
    """Excel reads a CSV without a byte-order mark in the computer's code page: Brücke_Süd.jpg read
    BrÃ¼cke_SÃ¼d.jpg there. The mark is there, and the table reads back as it was."""
    catalog = yaml.safe_load((Path(__file__).resolve().parents[1] / "conf/base/catalog.yml").read_text())
    table = pd.DataFrame({"file": ["Brücke_Süd.jpg", "橋 3, north.jpg"], "length_mm": [1.5, 2.0]})
    saved = WholeCSVDataset(filepath=str(tmp_path / "t.csv"), save_args=catalog[entry]["save_args"])
    saved.save(table)
    content = (tmp_path / "t.csv").read_bytes()
    assert content.startswith(codecs.BOM_UTF8)
    assert content.decode("utf-8-sig").splitlines()[1] == "Brücke_Süd.jpg,1.5"
    pd.testing.assert_frame_equal(saved.load(), table)


def test_no_text_cell_reads_as_a_spreadsheet_formula_and_every_cell_reads_back_as_it_was(tmp_path):
    """A photo named =HYPERLINK(...).jpg (or +1.jpg, -2.jpg, @a.jpg) was a formula in every table an
    inspector opened in Excel or LibreOffice."""
    names = ['=HYPERLINK("http://x","y").jpg', "+1.jpg", "-2.jpg", "@a.jpg", "\tt.jpg", "'=q.jpg", "'a.jpg"]
    table = pd.DataFrame({"file": names, "crack_probability": [-0.5] * len(names), "=col": ["ok.jpg"] * 7})
    WholeCSVDataset(filepath=str(tmp_path / "t.csv"), save_args={"index": False}).save(table)
    rows = list(csv.reader((tmp_path / "t.csv").open(newline="")))
    assert rows[0] == ["file", "crack_probability", "'=col"]
    assert [row[0] for row in rows[1:]] == [
        "'" + name if name[0] != "'" or name == "'=q.jpg" else name for name in names
    ], "a quote before what a spreadsheet runs, and before a cell that starts like one so quoted"
    assert {row[1] for row in rows[1:]} == {"-0.5"}, "numbers stay numbers"
    for reader in (WholeCSVDataset, OptionalCSVDataset):
        pd.testing.assert_frame_equal(reader(filepath=str(tmp_path / "t.csv")).load(), table)


def test_every_table_of_every_environment_is_written_spreadsheet_safe():
    import crack_pipeline.datasets as datasets

    for catalog_file in (Path(__file__).resolve().parents[1] / "conf").glob("*/catalog.yml"):
        for name, entry in yaml.safe_load(catalog_file.read_text()).items():
            if str(entry.get("filepath", "")).endswith(".csv"):
                kind = getattr(datasets, entry["type"].removeprefix("crack_pipeline.datasets."), None)
                assert kind and issubclass(kind, WholeCSVDataset), f"{catalog_file}: {name}"
