"""Where the benchmarks find the real data sets (bench/shared_data.py)."""

import re
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
from shared_data import BESIDE, data_root, listed_source, require_data  # noqa: E402


def test_no_bench_finds_the_shared_data_by_itself():
    """The benches looked beside the repository only, 7 of them building the path each in its own way: in a
    clone placed elsewhere they failed with no option to point them at the data."""
    own_way = re.compile(r"""["']shared["/]""")
    found = sorted(
        p.name for p in BENCH.glob("*.py") if p.name != "shared_data.py" and own_way.search(p.read_text())
    )
    assert found == []


def test_a_missing_data_set_is_named_with_the_folder_looked_in_and_the_option(tmp_path):
    (tmp_path / "ozgenel_dev").mkdir()
    assert require_data(tmp_path, "ozgenel_dev") == [tmp_path / "ozgenel_dev"]
    with pytest.raises(
        SystemExit, match=rf"needs sdnet_walls_dev, cfd in {re.escape(str(tmp_path))}: .*--data DIR"
    ):
        require_data(tmp_path, "ozgenel_dev", "sdnet_walls_dev", "cfd")


def test_segment_quality_reads_the_data_sets_from_the_data_option(tmp_path, monkeypatch):
    """bench/segment_quality.py looked in ../shared/data beside the repository only (`--data`: a usage
    error)."""
    import segment_quality

    monkeypatch.setattr(sys, "argv", ["segment_quality.py", "--data", str(tmp_path), "--champion", "c.pt"])
    with pytest.raises(SystemExit, match=rf"needs images, masks in {re.escape(str(tmp_path / 'cfd'))}: "):
        segment_quality.main()


def test_conf_general_s_shared_sources_are_read_from_the_data_option(tmp_path):
    """bench/transfer.py reads conf/general's data.sources: those in ../shared/data come from `--data`."""
    given, default = type("Args", (), {"data": tmp_path})(), type("Args", (), {"data": None})()
    assert data_root(default) == BESIDE
    assert listed_source(str(BESIDE / "ozgenel_dev"), given) == tmp_path / "ozgenel_dev"
    assert listed_source(str(BESIDE / "ozgenel_dev"), default) == BESIDE / "ozgenel_dev"
    tiles = BESIDE.parents[1] / "data/02_intermediate/mask_tiles/cfd"
    assert listed_source(str(tiles), given) == tiles
