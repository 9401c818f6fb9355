"""Each photo's own scale (explain.scales): the table read and checked, matched to the photos, and the
cracks of each photo measured in mm at its own scale, in explain and in a survey."""

from __future__ import annotations

import hashlib
import html
import logging

import numpy as np
import pandas as pd
import pytest

from crack_pipeline.pipelines.explain.nodes import check_explain_settings, explain_split
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.explain.artefacts import ArtefactWriter
from crack_pipeline.vision.explain.scales import photo_scales, read_scales
from crack_pipeline.vision.settings import ConfigError
from tests.test_photos import masked_photo, two_domain_split


def table(tmp_path, text: str):
    path = tmp_path / "scales.csv"
    path.write_text(text)
    return path


def test_a_scale_table_is_read_with_its_files_as_the_tables_name_them(tmp_path):
    path = table(tmp_path, "file,mm_per_pixel,note\nnorth\\a.png,0.2,ladder\n./b.png,0.05,drone\nNA.png,1\n")
    assert read_scales(path) == {"north/a.png": 0.2, "b.png": 0.05, "NA.png": 1.0}


def test_a_scale_table_saved_by_excel_with_decimal_commas_is_read(tmp_path):
    """Excel, where a comma is the decimal mark, saves "CSV" with semicolons between cells and 0,2: it read
    as one column `file;mm_per_pixel`, and the run stopped."""
    path = tmp_path / "scales.csv"
    path.write_bytes("file;mm_per_pixel\nBrücke, Süd.jpg;0,2\nb.png;1\n".encode("utf-8-sig"))
    assert read_scales(path) == {"Brücke, Süd.jpg": 0.2, "b.png": 1.0}


@pytest.mark.parametrize(
    "text",
    [
        "file\tmm_per_pixel\nBrücke, Süd.jpg\t0,2\nb.png\t1\n",
        "sep=;\r\nfile;mm_per_pixel\r\nBrücke, Süd.jpg;0,2\r\nb.png;1\r\n",
        'sep=,\nfile,mm_per_pixel\n"Brücke, Süd.jpg",0.2\nb.png,1\n',
        "sep=\t\nfile\tmm_per_pixel\nBrücke, Süd.jpg\t0.2\nb.png\t1\n",
        '"sep=;"\nfile;mm_per_pixel\nBrücke, Süd.jpg;0,2\nb.png;1\n',
    ],
    ids=["tabs, pasted from a spreadsheet", "excel sep=;", "excel sep=,", "excel sep=tab", "quoted sep=;"],
)
def test_a_scale_table_with_tabs_or_excel_s_sep_line_is_read(tmp_path, text):
    """A table with tabs between cells read as one column `file<tab>mm_per_pixel`, and one with Excel's
    `sep=;` first line as columns `sep=` and `Unnamed: 1`: the run stopped on a table spreadsheets read."""
    path = tmp_path / "scales.csv"
    path.write_bytes(text.encode("utf-8-sig"))
    assert read_scales(path) == {"Brücke, Süd.jpg": 0.2, "b.png": 1.0}


@pytest.mark.parametrize("sep", [";", "\t"])
def test_a_scale_table_of_decimal_commas_and_points_alike_is_read(tmp_path, sep):
    """Where a comma is the decimal mark, a row typed with a point (0.3) beside 0,2 left the column text:
    the 0,2 rows stopped the run as 'without a scale above 0'."""
    path = table(tmp_path, f"file{sep}mm_per_pixel\na.png{sep}0,2\nb.png{sep}0.3\nc.png{sep}1\n")
    assert read_scales(path) == {"a.png": 0.2, "b.png": 0.3, "c.png": 1.0}
    with pytest.raises(ConfigError, match=r"row 3 \('b.png': 'none'\)"):
        read_scales(table(tmp_path, f"file{sep}mm_per_pixel\na.png{sep}0,2\nb.png{sep}none\n"))


def test_a_scale_table_excel_saved_in_its_code_page_is_refused_saying_how_to_save_it(tmp_path):
    """Excel's plain "CSV" (German: semicolons, 0,2) is in the computer's code page, not UTF-8: a table naming
    Brücke.jpg stopped the run with pandas' "'utf-8' codec can't decode byte 0xfc in position 20"."""
    path = tmp_path / "scales.csv"
    path.write_bytes("file;mm_per_pixel\nBrücke.jpg;0,2\n".encode("cp1252"))
    with pytest.raises(ConfigError, match=r"not UTF-8 \(byte 0xfc at .*save it .* as 'CSV UTF-8'"):
        read_scales(path)


def test_a_photo_is_matched_to_its_row_whichever_unicode_form_either_name_is_in(tmp_path):
    """A folder copied from a Mac names Brücke.jpg decomposed (u + U+0308), a table typed in a spreadsheet
    composed (ü): the run stopped with "no scale in it for 1 of the 2 photos (Brücke.jpg)"."""
    path = table(tmp_path, "file,mm_per_pixel\nBr\u00fccke.jpg,0.2\nnorth/Sa\u0301o.jpg,0.1\n")
    names = ["Bru\u0308cke.jpg", "north/S\u00e1o.jpg"]
    assert photo_scales(names, read_scales(path), None) == {names[0]: 0.2, names[1]: 0.1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("file,scale\na.png,0.2\n", r"scales.csv: no column mm_per_pixel \(it has file, scale\)"),
        (
            "file,mm_per_pixel\na.png,0.2\nb.png,0\nc.png,\n,0.1\nd.png,x\n",
            r"4 row\(s\) without a file or a scale above 0: row 3 \('b.png': '?0'?\), row 4 .*row 5 .*row 6",
        ),
        # A column of numbers alone: its cell quoted as written, not as numpy shows it (np.float64(0.0)).
        (
            "file,mm_per_pixel\na.png,0.2\nb.png,0\n",
            r"1 row\(s\) without a file or a scale above 0: row 3 \('b.png': '0'\)$",
        ),
        ("file,mm_per_pixel\na.png,0.2\n./a.png,0.3\n", "a.png is given two scales, 0.2 and 0.3"),
    ],
)
def test_a_bad_scale_table_is_refused_naming_the_file_and_its_rows(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        read_scales(table(tmp_path, text))


def test_a_missing_scale_table_stops_the_run_before_its_first_node(tmp_path):
    settings = {"methods": ["layercam"], "scales": str(tmp_path / "nowhere.csv")}
    with pytest.raises(ConfigError, match=r"^explain.scales: .*nowhere.csv: no such file"):
        check_explain_settings(settings)


def test_photos_the_table_does_not_list_take_the_default_or_stop_the_run(caplog):
    scales = {"a.png": 0.2, "old/z.png": 0.3}
    with caplog.at_level(logging.WARNING):
        assert photo_scales(["a.png", "b.png"], scales, 0.5) == {"a.png": 0.2}
    assert "1 of its 2 files are none of the photos explained (e.g. old/z.png)" in caplog.text
    with pytest.raises(InputError, match=r"no scale in it for 1 of the 2 photos \(b.png\).*mm_per_pixel"):
        photo_scales(["a.png", "b.png"], scales, None)


def test_each_photo_s_cracks_are_measured_and_banded_at_its_own_scale():
    """The same 60-px crack, photographed from a ladder (0.5 mm/px) and by a drone (0.02 mm/px): 30 mm and
    fine, 1.2 mm and hairline. One mm_per_pixel measured both alike."""
    mask = np.zeros((60, 80), dtype=bool)
    mask[30:32, 10:70] = True
    writer = ArtefactWriter(0.5, scales={"ladder.png": 0.5, "drone.png": 0.02})
    for name in ("ladder.png", "drone.png"):
        writer.add("layercam", *masked_photo(mask, name))
    files, predictions, _, measurements = writer.finish("small_cnn")
    by_file = measurements.set_index("file")
    assert by_file.length_mm.to_dict() == pytest.approx({"ladder.png": 30, "drone.png": 1.2}, rel=0.05)
    assert by_file.severity.to_dict() == {"ladder.png": "fine", "drone.png": "hairline"}
    widths = predictions.set_index("file").cracks_max_width_mm
    assert widths["drone.png"] == pytest.approx(widths["ladder.png"] * 0.02 / 0.5), "each photo's summary too"
    page = html.unescape(files["index.html"].decode())
    assert "widest width in mm at each photo's scale (explain.scales: 0.02 to 0.5 mm/px): hairline" in page


def test_explain_measures_the_photos_the_table_lists_at_their_scale_and_the_others_at_the_default(
    trained_checkpoint, tmp_path
):
    manifest = two_domain_split(tmp_path)
    scales = table(tmp_path, "file,mm_per_pixel\na/Positive/1.png,0.2\n")
    settings = {"split": "test", "methods": ["gradcam"], "segmenter": False, "scales": str(scales)}
    with pytest.raises(InputError, match=r"no scale in it for 1 of the 2 photos \(b/Positive/1.png\)"):
        explain_split(trained_checkpoint, manifest, None, None, None, settings, {}, {}, "cpu")
    files, *_ = explain_split(
        trained_checkpoint, manifest, None, None, None, {**settings, "mm_per_pixel": 0.3}, {}, {}, "cpu"
    )
    page = html.unescape(files["index.html"].decode())
    assert "in mm at each photo's scale (explain.scales: 0.2 mm/px; others at 0.3 mm/px)" in page


def test_a_scale_table_made_from_predictions_csv_names_the_photos_as_explain_does(tmp_path):
    """predictions.csv writes `-2.jpg` as `'-2.jpg` (spreadsheet_cells): a scale table made from it (its
    `file` column, or the file itself with the scales it says) listed no such photo, and the run stopped
    on it as unlisted, or measured it at explain.mm_per_pixel."""
    from crack_pipeline.datasets import WholeCSVDataset

    names = ["-2.jpg", "=a.jpg", "north/b.jpg"]
    made = pd.DataFrame({"file": names, "method": "gradcam", "mm_per_pixel": [0.1, 0.2, 0.3]})
    WholeCSVDataset(filepath=str(tmp_path / "predictions.csv"), save_args={"index": False}).save(made)
    scales = read_scales(tmp_path / "predictions.csv")
    assert photo_scales(names, scales, None) == {"-2.jpg": 0.1, "=a.jpg": 0.2, "north/b.jpg": 0.3}


def test_a_sample_of_the_photos_is_matched_to_a_table_of_them_all_without_a_warning(
    trained_checkpoint, tmp_path, caplog
):
    """explain.max_images explains some of the photos: a table of all of them was warned of as listing
    files that are none of the photos (a typo, another folder), and the gallery gave the scales of photos
    it did not show."""
    manifest = two_domain_split(tmp_path)
    scales = table(tmp_path, "file,mm_per_pixel\na/Positive/1.png,0.2\nb/Positive/1.png,0.4\n")
    settings = {"split": "test", "methods": ["gradcam"], "segmenter": False, "scales": str(scales)}
    with caplog.at_level(logging.WARNING, logger="crack_pipeline"):
        files, predictions, *_ = explain_split(
            trained_checkpoint, manifest, None, None, None, {**settings, "max_images": 1}, {}, {}, "cpu"
        )
    assert "none of the photos" not in caplog.text
    (file,) = predictions.file
    assert predictions.mm_per_pixel.tolist() == [{"a/Positive/1.png": 0.2, "b/Positive/1.png": 0.4}[file]]
    page = html.unescape(files["index.html"].decode())
    assert f"explain.scales: {predictions.mm_per_pixel[0]:g} mm/px)" in page


def test_the_gallery_gives_the_scales_of_the_photos_measured_not_of_one_that_could_not_be_read(
    trained_checkpoint, tmp_path
):
    """A photo of explain.scales that could not be read has no row and is listed as not explained; the
    gallery's severity line still gave its scale in the span its cracks were measured at (0.2 to 0.5)."""
    manifest = two_domain_split(tmp_path)
    broken = b"not a png"
    (tmp_path / "b" / "Positive" / "1.png").write_bytes(broken)
    manifest.loc[1, "sha256"] = hashlib.sha256(broken).hexdigest()  # as ingest found it: read at explain
    scales = table(tmp_path, "file,mm_per_pixel\na/Positive/1.png,0.2\nb/Positive/1.png,0.5\n")
    settings = {"split": "test", "methods": ["gradcam"], "segmenter": False, "scales": str(scales)}
    files, predictions, *_ = explain_split(
        trained_checkpoint, manifest, None, None, None, settings, {}, {}, "cpu"
    )
    assert predictions.file.tolist() == ["a/Positive/1.png"]
    page = html.unescape(files["index.html"].decode())
    assert "b/Positive/1.png" in page.split("Not explained")[1], "listed as not explained, with why"
    assert "at each photo's scale (explain.scales: 0.2 mm/px)" in page


def test_a_listed_photo_that_cannot_be_read_or_is_a_copy_is_not_warned_of_as_none_of_the_photos(
    trained_checkpoint, tmp_path, caplog
):
    """explain.input_dir's scan leaves out a photo that cannot be read (logged as skipped, with why) and
    explains a byte-identical copy once, as the file it copies (its summary lists the copy): explain.scales
    naming either was warned of as listing 'none of the photos explained', a typo's warning."""
    from crack_pipeline.vision.data.folder import Folder

    two_domain_split(tmp_path)  # a readable crack patch at a/Positive/1.png
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "a copy.png"):
        (photos / name).write_bytes((tmp_path / "a/Positive/1.png").read_bytes())
    (photos / "b.png").write_bytes(b"not a png")
    scales = table(tmp_path, "file,mm_per_pixel\na.png,0.2\na copy.png,0.2\nb.png,0.5\nc.png,0.4\n")
    settings = {"methods": ["gradcam"], "segmenter": False, "scales": str(scales)}
    ingest = {"label_aliases": {}, "min_side": 32, "max_pixels": 10**7, "workers": 1}
    with caplog.at_level(logging.WARNING, logger="crack_pipeline"):
        _, predictions, *_ = explain_split(
            trained_checkpoint, None, Folder.scan(photos), None, None, settings, {}, ingest, "cpu"
        )
    assert len(predictions.file) == 1, "the copy explained once, the unreadable photo not at all"
    (warned,) = [r.getMessage() for r in caplog.records if "none of the photos" in r.getMessage()]
    assert "1 of its 4 files" in warned and "c.png" in warned, "the typo, c.png, is still warned of"
    # The copy explained as the file it copies ("a copy.png", first by name), at that one's scale: another
    # scale for it was left unused without a word.
    settings["scales"] = str(table(tmp_path, "file,mm_per_pixel\na.png,0.3\na copy.png,0.2\n"))
    with pytest.raises(InputError, match=r"byte-identical to another .* \(a.png 0.3, a copy.png 0.2\)"):
        explain_split(trained_checkpoint, None, Folder.scan(photos), None, None, settings, {}, ingest, "cpu")


def test_a_copy_listed_at_another_scale_than_the_photo_it_copies_is_refused_naming_both(tmp_path):
    """explain.input_dir's scan explains a byte-identical copy once, as the file it copies: explain.scales
    giving the two different scales measured the cracks at the original's, the copy's scale unused without
    a word. As a file listed twice with two scales, it is refused."""
    from crack_pipeline.pipelines.explain.images import images_to_explain
    from crack_pipeline.vision.data.folder import Folder
    from crack_pipeline.vision.explain.scales import scales_of
    from tests.conftest import image_bytes

    photos = tmp_path / "photos"
    photos.mkdir()
    for name, seed in (("a.png", 1), ("a_copy.png", 1), ("b.png", 2)):
        (photos / name).write_bytes(image_bytes(seed=seed))
    ingest = {"label_aliases": {}, "min_side": 32, "max_pixels": 10**7, "workers": 1}
    items, _, _, _, copies = images_to_explain(None, Folder.scan(photos), {}, ingest)
    names = [item.name for item in items]
    assert names == ["a.png", "b.png"] and copies == {"a_copy.png": "a.png"}
    differing = table(tmp_path, "file,mm_per_pixel\na.png,0.2\na_copy.png,0.3\nb.png,0.5\n")
    with pytest.raises(
        InputError, match=r"1 photo\(s\) byte-identical to another .* \(a_copy.png 0.3, a.png 0.2\)"
    ):
        scales_of(names, differing, None, names, list(copies), copies=copies)
    unlisted = table(tmp_path, "file,mm_per_pixel\na_copy.png,0.3\nb.png,0.5\n")  # a.png at the default
    with pytest.raises(InputError, match=r"\(a_copy.png 0.3, a.png 0.1\)"):
        scales_of(names, unlisted, 0.1, names, list(copies), copies=copies)
    same = table(tmp_path, "file,mm_per_pixel\na.png,0.2\na_copy.png,0.2\nb.png,0.5\n")
    assert scales_of(names, same, None, names, list(copies), copies=copies) == {"a.png": 0.2, "b.png": 0.5}
