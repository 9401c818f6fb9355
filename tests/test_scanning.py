"""scan_folder on small generated folders: statuses, duplicates, groups and the summary line."""

import logging
import os
from pathlib import Path

import pandas as pd
import pytest

from crack_pipeline.pipelines.survey.nodes import survey_images
from crack_pipeline.vision.data import scanning
from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.image_io import ImageLimits
from crack_pipeline.vision.data.labels import DEFAULT_ALIASES, UnknownLabelFolders
from crack_pipeline.vision.data.scanning import group_of, scan_folder, summary_lines
from crack_pipeline.vision.settings import ConfigError
from tests.conftest import image_bytes, write


def scan(root, **kwargs):
    return scan_folder(Folder.scan(root), DEFAULT_ALIASES, workers=2, **kwargs)


def test_bad_files_are_skipped_with_reasons_and_good_ones_kept(tmp_path):
    for i in range(3):
        write(tmp_path, f"Positive/p{i}.jpg", image_bytes(fmt="JPEG", seed=i))
        write(tmp_path, f"Negative/n{i}.png", image_bytes(seed=10 + i))
    write(tmp_path, "Positive/empty.jpg", b"")
    write(tmp_path, "Negative/notes.jpg", b"hello")
    truncated = image_bytes((128, 128), fmt="JPEG", seed=99)
    write(tmp_path, "Negative/cut.jpg", truncated[: len(truncated) // 2])
    write(tmp_path, "Positive/tiny.png", image_bytes((8, 8)))
    write(tmp_path, "README.txt", b"about this data set")

    index = scan(tmp_path).index.set_index("path")
    assert index.loc["Positive/p0.jpg", "status"] == "ok"
    assert index.loc["Positive/p0.jpg", "label"] == "crack"
    assert (index.loc["Positive/p0.jpg", ["width", "height"]] == [64, 64]).all()
    assert len(index.loc["Positive/p0.jpg", "sha256"]) == 64
    assert index.loc["Positive/empty.jpg", "status"] == "empty_file"
    assert index.loc["Negative/notes.jpg", "status"] == "not_an_image"
    assert index.loc["Negative/cut.jpg", "status"] == "corrupt_or_truncated"
    assert index.loc["Positive/tiny.png", "status"] == "too_small"
    assert index.loc["README.txt", "status"] == "not_an_image"  # outside class folders, not an image name
    lines = summary_lines(index.reset_index())
    assert lines[0] == "ingest: scanned 11 files, kept 6 (crack 3, no_crack 3), skipped 5"
    assert any(
        line.strip().startswith("skipped, too_small: 1") and "Positive/tiny.png" in line for line in lines
    )


def test_a_file_that_is_no_image_is_skipped_in_the_same_words_for_ingest_and_evaluate_folder(tmp_path):
    """SOURCE.md beside the class folders was "not an image, outside any class folder" to ingest and "not a
    recognised image format" to evaluate_folder (and to ingest inside a class folder)."""
    write(tmp_path, "Positive/p.jpg", image_bytes(fmt="JPEG"))
    write(tmp_path, "Positive/notes.md", b"taken on the north pier")
    write(tmp_path, "SOURCE.md", b"photos from site A")
    ingest, folder = (
        scan(tmp_path, require_labels=labels).index.set_index("path") for labels in (True, False)
    )
    reasons = {
        ingest.at["SOURCE.md", "detail"],
        folder.at["SOURCE.md", "detail"],
        ingest.at["Positive/notes.md", "detail"],
    }
    assert reasons == {"not a recognised image format"}


def test_image_outside_class_folders_is_an_error_before_decoding(tmp_path):
    write(tmp_path, "Positive/a.png", image_bytes())
    write(tmp_path, "holiday/b.jpg", image_bytes(fmt="JPEG"))
    with pytest.raises(UnknownLabelFolders, match="holiday"):
        scan(tmp_path)


def test_a_class_folder_given_for_its_parent_is_said_to_be_one(tmp_path):
    """`data.source_dir=.../Positive`: its images lie at the top level, and the error said only
    `no class label for the files in: <top level>`."""
    write(tmp_path, "Positive/a.png", image_bytes(seed=1))
    write(tmp_path, "Positive/b.png", image_bytes(seed=2))
    given = "The folder given, 'Positive', is itself a class folder \\(crack\\): give the folder that holds"
    with pytest.raises(UnknownLabelFolders, match=rf"^no class label for the files in: <top level>.*{given}"):
        scan(tmp_path / "Positive")
    write(tmp_path / "photos", "a.png", image_bytes(seed=1))
    with pytest.raises(UnknownLabelFolders) as caught:
        scan(tmp_path / "photos")
    assert "is itself a class folder" not in str(caught.value)


def test_unlabelled_images_beside_class_folders_are_said_to_need_moving_not_aliases(tmp_path):
    """A site's folder after "label these next": the first images moved into Positive/ and Negative/, the
    rest still loose. Listed to train on, it was told to add its folder names to label_aliases (in
    conf/local/, which a run with --env=general does not read): its top level has no name to alias."""
    write(tmp_path, "Positive/a.png", image_bytes(seed=1))
    write(tmp_path, "Negative/b.png", image_bytes(seed=2))
    for seed in (3, 4, 5):
        write(tmp_path, f"7090-{seed}.jpg", image_bytes(seed=seed, fmt="JPEG"))
    with pytest.raises(UnknownLabelFolders) as caught:
        scan(tmp_path)
    message = str(caught.value)
    assert message.startswith("no class label for the files in: <top level> (3 files, e.g. 7090-3.jpg).")
    assert "The 3 image(s) at the top level lie beside 2 in class folders: unlabelled" in message
    assert "move them into class folders too, or out of this folder." in message
    assert "label_aliases" not in message
    write(tmp_path, "holiday/c.png", image_bytes(seed=6))  # a folder name to alias as well: both said
    with pytest.raises(UnknownLabelFolders) as caught:
        scan(tmp_path)
    assert "lie beside 2 in class folders" in str(caught.value)
    assert "conf/<env>/ with --env=<env>" in str(caught.value)


def test_the_summary_counts_images_outside_class_folders(tmp_path):
    """A folder to explain or rank for labelling: its unlabelled images are counted, where the summary
    read "kept 3 (crack 1, no_crack 0)", as if two were lost."""
    write(tmp_path, "Positive/a.png", image_bytes(seed=1))
    write(tmp_path, "site/b.png", image_bytes(seed=2))
    write(tmp_path, "site/c.png", image_bytes(seed=3))
    lines = summary_lines(scan(tmp_path, require_labels=False).index, "explain input")
    assert lines[0] == "explain input: scanned 3 files, kept 3 (crack 1, no_crack 0, unlabelled 2), skipped 0"


def test_duplicates_are_reported_and_conflicting_ones_excluded(tmp_path):
    same = image_bytes(seed=1)
    write(tmp_path, "Positive/a.png", same)
    write(tmp_path, "Positive/b.png", same)  # duplicate, same label
    conflict = image_bytes(seed=2)
    write(tmp_path, "Positive/c.png", conflict)
    write(tmp_path, "Negative/c_copy.png", conflict)  # same bytes, other label
    write(tmp_path, "Negative/d.png", image_bytes(seed=3))
    index = scan(tmp_path).index.set_index("path")
    assert index.status.to_dict() == {  # same-label copies are kept, conflicting ones are not
        "Negative/c_copy.png": "label_conflict",
        "Negative/d.png": "ok",
        "Positive/a.png": "ok",
        "Positive/b.png": "ok",
        "Positive/c.png": "label_conflict",
    }
    assert index.loc["Positive/b.png", "duplicate_of"] == "Positive/a.png"
    assert index.loc["Positive/b.png", "group"] == index.loc["Positive/a.png", "group"], (
        "copies share a split"
    )
    assert "Positive/c.png" in index.loc["Negative/c_copy.png", "detail"]
    lines = summary_lines(index.reset_index())
    assert lines[0] == "ingest: scanned 5 files, kept 3 (crack 2, no_crack 1), skipped 2"
    assert any("exact duplicates" in line and "Positive/b.png = Positive/a.png" in line for line in lines)


def test_group_pattern():
    import re

    pattern = re.compile(r"^(\d+)_")
    assert group_of("Positive/0042_03.jpg", pattern) == "0042"
    assert group_of("Positive/photo.jpg", pattern) == "Positive/photo.jpg"  # no match: its own group
    assert group_of("x/IMG7_tile2.jpg", re.compile(r"(?P<group>IMG\d+)")) == "IMG7"
    assert group_of("x/a.jpg", None) == "x/a.jpg"


def test_a_group_pattern_that_is_no_regex_stops_the_scan_before_any_file_is_decoded(tmp_path, monkeypatch):
    write(tmp_path, "Positive/0001_a.png", image_bytes())
    decoded = []
    monkeypatch.setattr(scanning, "_check_chunk", lambda job: decoded.append(job) or [])
    with pytest.raises(ConfigError, match=r"^group_pattern: '\^\(\\d\+' is not a regular expression"):
        scan_folder(Folder.scan(tmp_path), DEFAULT_ALIASES, workers=1, group_pattern=r"^(\d+")
    assert decoded == []  # a bare re.error, after the whole folder was decoded


def test_file_names_a_group_pattern_finds_no_photo_in_are_named(tmp_path, caplog):
    # '^(\d+)_' for names like IMG-0001-2.jpg groups nothing: patches of one photo could fall on both sides
    # of the split, unsaid.
    for photo in range(2):
        for patch in range(2):
            write(tmp_path, f"Positive/IMG-{photo}-{patch}.png", image_bytes(seed=photo * 2 + patch))
    write(tmp_path, "Negative/7_0.png", image_bytes(seed=9))
    with caplog.at_level(logging.WARNING):
        index = scan(tmp_path, group_pattern=r"^(\d+)_").index
    assert index.group.nunique() == 5
    assert (
        "group_pattern" in caplog.text
        and "finds no parent photo in 4 of the 5 kept file names" in caplog.text
    )
    assert "Positive/IMG-0-0.png, Positive/IMG-0-1.png, Positive/IMG-1-0.png ..." in caplog.text


def test_histograms_sample_every_kept_image(tmp_path):
    write(tmp_path, "Positive/a.png", image_bytes((48, 40)))
    write(tmp_path, "Negative/b.png", image_bytes((36, 50)))
    write(tmp_path, "Negative/bad.png", b"nope")
    result = scan(tmp_path)
    assert result.histograms["crack"].sum(axis=1).tolist() == [120] * 3
    assert result.histograms["no_crack"].sum(axis=1).tolist() == [108] * 3
    assert isinstance(result.index, pd.DataFrame)


def test_missing_and_empty_source_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Folder.scan(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no files"):
        Folder.scan(tmp_path / "empty")
    write(tmp_path, "empty/@eaDir/p.png/SYNOPHOTO_THUMB_M.png", image_bytes(size=(40, 40)))
    with pytest.raises(
        FileNotFoundError, match=r"holds no files \(passed over 1 folder: @eaDir \(hidden or system"
    ):
        Folder.scan(tmp_path / "empty")


def test_a_file_name_that_is_not_utf8_is_reported_and_skipped_and_the_index_still_saves(tmp_path):
    for name in ("Positive/a.png", "Negative/b.png"):
        write(tmp_path, name, image_bytes(seed=len(name) + ord(name[0])))
    (tmp_path / "Positive").joinpath(os.fsdecode(b"latin1_\xe9t\xe9.png")).write_bytes(image_bytes(seed=9))
    folder = Folder.scan(tmp_path)
    assert folder.unreadable_names == ("Positive/latin1_\\xe9t\\xe9.png",)
    index = scan_folder(folder, DEFAULT_ALIASES, workers=1).index.set_index("path")
    assert index.loc["Positive/latin1_\\xe9t\\xe9.png", "status"] == "unreadable_name"
    assert (index.drop(index="Positive/latin1_\\xe9t\\xe9.png").status == "ok").all()
    index.to_csv(tmp_path / "index.csv")  # the run's tables save: a raw name had stopped every pipeline
    photos = survey_images(folder, {"label_aliases": DEFAULT_ALIASES})
    assert sorted(photo.name for photo in photos) == ["Negative/b.png", "Positive/a.png"], "a survey skips it"


def test_linked_folders_are_followed_once_and_system_folders_passed_over(tmp_path, caplog):
    photos, elsewhere = tmp_path / "photos", tmp_path / "elsewhere"
    write(photos, "Positive/p.png", image_bytes(seed=1))
    write(elsewhere, "n.png", image_bytes(seed=2))
    (photos / "Negative").symlink_to(elsewhere, target_is_directory=True)  # a class folder kept elsewhere
    (photos / "Positive/again").symlink_to(photos / "Negative", target_is_directory=True)
    (photos / "Positive/loop").symlink_to(photos, target_is_directory=True)
    (photos / "Positive/gone.png").symlink_to(tmp_path / "deleted.png")
    (photos / "All_negatives").symlink_to("Negative", target_is_directory=True)  # walked before Negative
    (elsewhere / "thumbs").symlink_to(photos / "Positive/@eaDir", target_is_directory=True)
    # A NAS's thumbnails of every photo, a hidden cache and a recycle bin: none are photos to learn from.
    write(photos, "Positive/@eaDir/p.png/SYNOPHOTO_THUMB_M.png", image_bytes(seed=1, size=(40, 40)))
    write(photos, "Negative/.thumbnails/n.png", image_bytes(seed=2, size=(40, 40)))
    write(photos, "#recycle/Positive/old.png", image_bytes(seed=3))
    write(photos, "Positive/._p.png", b"\x00\x05\x16\x07 Mac OS X        ")  # macOS metadata of p.png

    folder = Folder.scan(photos)
    assert folder.files == ("Negative/n.png", "Positive/gone.png", "Positive/p.png")
    assert [entry.split(" (")[0] for entry in folder.passed_over] == [
        "#recycle",
        "All_negatives",
        "Negative/.thumbnails",
        "Negative/thumbs",
        "Positive/._p.png",
        "Positive/@eaDir",
        "Positive/again",
        "Positive/loop",
    ]
    assert "passed over 7 folders: #recycle (hidden or system" in caplog.text
    assert "; 1 hidden file: Positive/._p.png" in caplog.text
    index = scan_folder(folder, DEFAULT_ALIASES, workers=1).index.set_index("path")
    assert index.loc["Negative/n.png", ["status", "label"]].tolist() == ["ok", "no_crack"]
    assert index.loc["Positive/gone.png", "status"] == "unreadable", "a link to nothing, reported"
    assert "No such file" in index.loc["Positive/gone.png", "detail"]


def test_a_large_file_that_is_no_image_is_rejected_without_being_read_whole(tmp_path, monkeypatch):
    from crack_pipeline.vision.data import image_io

    monkeypatch.setattr(image_io, "IDENTIFY_ABOVE", 4096)
    write(tmp_path, "Positive/clip.jpg", b"\x00\x00\x00\x18ftypmp42" + bytes(8192))  # a video, misnamed
    # An MPEG stream, whose header Pillow recognises (720x576) yet cannot decode.
    write(tmp_path, "Positive/stream.jpg", b"\x00\x00\x01\xb3\x2d\x02\x40\x13" + bytes(8192))
    write(tmp_path, "Positive/big.png", image_bytes((128, 128)))  # over the limit too, an image
    write(tmp_path, "Positive/huge.png", image_bytes((200, 200)))  # more pixels than allowed
    assert (tmp_path / "Positive/big.png").stat().st_size > 4096
    write(tmp_path, "Negative/n.png", image_bytes(seed=3))
    write(tmp_path, "Negative/short_stream.jpg", b"\x00\x00\x01\xb3\x2d\x02\x40\x13" + bytes(64))
    read = []
    whole = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda path: read.append(path.name) or whole(path))
    folder = Folder.scan(tmp_path)
    limits = ImageLimits(min_side=32, max_pixels=150**2)
    index = scan_folder(folder, DEFAULT_ALIASES, limits, workers=1).index.set_index("path")  # read here
    assert index.loc["Positive/clip.jpg", "status"] == "not_an_image"
    assert "8,204 bytes" in index.loc["Positive/clip.jpg", "detail"]
    assert index.loc["Positive/stream.jpg", "status"] == "not_an_image"
    assert index.loc["Positive/stream.jpg", "detail"].startswith("MPEG data")
    assert index.loc["Negative/short_stream.jpg", "status"] == "not_an_image", "the same, however short"
    assert index.loc["Positive/huge.png", "status"] == "too_large"
    assert index.loc["Positive/big.png", "status"] == "ok"
    assert sorted(read) == ["big.png", "n.png", "short_stream.jpg"], "small files and images within limits"


def test_a_link_into_the_tree_never_hides_the_real_folder_and_unreadable_folders_are_named(
    tmp_path, monkeypatch
):
    photos = tmp_path / "photos"
    write(photos, "site/Positive/p.png", image_bytes(seed=1))
    write(photos, "site/Negative/n.png", image_bytes(seed=2))
    write(photos, "$RECYCLE.BIN/Positive/old.png", image_bytes(seed=3))  # Windows spells it either way
    write(photos, "locked/Positive/q.png", image_bytes(seed=4))
    # Walked before `site`, a shortcut to one of its class folders: the files keep their real, labelled path.
    (photos / "a_shortcut").symlink_to(photos / "site/Positive", target_is_directory=True)
    (photos / "site/Positive/up").symlink_to(photos, target_is_directory=True)
    (photos / "site/Negative/all").symlink_to(tmp_path, target_is_directory=True)
    scandir = os.scandir

    def denied(path="."):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", denied)
    is_file = Path.is_file

    def unseen(path):  # a folder that may be listed but not entered (chmod 644)
        if path.name == "n.png":
            raise PermissionError(13, "Permission denied", str(path))
        return is_file(path)

    monkeypatch.setattr(Path, "is_file", unseen)
    folder = Folder.scan(photos)
    assert folder.files == ("site/Negative/n.png", "site/Positive/p.png"), "listed: reading it tells why"
    monkeypatch.undo()
    assert sorted(folder.passed_over) == [
        "$RECYCLE.BIN (hidden or system: thumbnails, metadata, a recycle bin)",
        f"a_shortcut (a second way into {(photos / 'site/Positive').resolve()}, scanned once)",
        "locked (cannot be read: Permission denied)",
        f"site/Negative/all (a link to {tmp_path.resolve()}, which holds the folder itself)",
        f"site/Positive/up (a second way into {photos.resolve()}, scanned once)",
    ]
    index = scan_folder(folder, DEFAULT_ALIASES, workers=1).index.set_index("path")
    assert index.label.to_dict() == {"site/Negative/n.png": "no_crack", "site/Positive/p.png": "crack"}


def test_folders_linked_from_elsewhere_keep_their_labels_however_the_links_nest(tmp_path):
    disk, photos = tmp_path / "disk2", tmp_path / "photos"
    write(disk, "cracks/Positive/p1.png", image_bytes(seed=1))
    write(disk, "cracks/archive/p2.png", image_bytes(seed=2))
    (disk / "cracks/Positive/2023").symlink_to("../archive", target_is_directory=True)  # relative, out there
    write(disk, "walls/Negative/n1.png", image_bytes(seed=3))
    write(disk, "walls/Negative/recent/n2.png", image_bytes(seed=4))
    write(disk, "more/p3.png", image_bytes(seed=5))
    (photos / ".links").mkdir(parents=True)
    (photos / "Positive").symlink_to(disk / "cracks/Positive", target_is_directory=True)
    (photos / "Negative").symlink_to(disk / "walls/Negative", target_is_directory=True)
    (photos / "Latest").symlink_to(
        disk / "walls/Negative/recent", target_is_directory=True
    )  # inside Negative
    (photos / ".links/more").symlink_to(disk / "more", target_is_directory=True)
    (photos / "Positive_more").symlink_to(".links/more", target_is_directory=True)  # through a hidden folder

    folder = Folder.scan(photos)
    assert folder.files == (
        "Negative/n1.png",
        "Negative/recent/n2.png",
        "Positive/2023/p2.png",
        "Positive/p1.png",
        "Positive_more/p3.png",
    )
    assert [entry.split(" (")[0] for entry in folder.passed_over] == [".links", "Latest"]


def test_a_folder_given_with_dots_is_named_without_them(tmp_path):
    """A catalog path from --params (explain.input_dir=../photos) reaches the scan as <project>/../photos:
    its messages showed the `..` that the settings' own messages leave out."""
    (tmp_path / "project").mkdir()
    (tmp_path / "photo.jpg").write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    for given, said in (("nope", "does not exist"), ("photo.jpg", "is a file"), ("empty", "holds no files")):
        with pytest.raises(OSError, match=said) as raised:
            Folder.scan(tmp_path / "project" / ".." / given)
        assert f"'{tmp_path / given}'" in str(raised.value)
