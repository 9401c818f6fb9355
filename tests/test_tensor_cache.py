"""Decoding a split for training: a file changed or broken since ingest validated it is left out, named."""

import pytest

from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.labels import DEFAULT_ALIASES
from crack_pipeline.vision.data.sources import Source, scan_sources
from crack_pipeline.vision.data.tensor_cache import check_matches, decode_listed
from crack_pipeline.vision.errors import InputError
from tests.conftest import image_bytes, write


def test_a_file_changed_or_broken_since_ingest_is_left_out_and_named(tmp_path):
    for i in range(3):
        write(tmp_path, f"Positive/p{i}.png", image_bytes(seed=i))
        write(tmp_path, f"Negative/n{i}.png", image_bytes(seed=10 + i))
    index = scan_sources([Source("site", Folder.scan(tmp_path))], DEFAULT_ALIASES, workers=1).index
    # After ingest: a clean photo replaced by a crack photo (its label no longer holds), another truncated.
    (tmp_path / "Negative/n0.png").write_bytes(image_bytes(seed=99))
    (tmp_path / "Negative/n1.png").write_bytes(image_bytes(seed=11)[:100])
    decoded = decode_listed(index, 32, workers=1)
    assert sorted(decoded.skipped) == ["site/Negative/n0.png", "site/Negative/n1.png"]
    assert decoded.skipped["site/Negative/n0.png"].startswith("changed since ingest validated it")
    assert len(decoded.paths) == 4 and decoded.images.shape == (4, 3, 32, 32)


def test_a_cache_of_another_split_says_how_to_rebuild_it_alone(tmp_path):
    for i in range(2):
        write(tmp_path, f"Positive/p{i}.png", image_bytes(seed=i))
    index = scan_sources([Source("site", Folder.scan(tmp_path))], DEFAULT_ALIASES, workers=1).index
    manifest = index.assign(split=["train", "test"])
    cached = decode_listed(index, 32, workers=1)
    with pytest.raises(InputError) as caught:
        check_matches({"train": cached, "test": cached}, manifest)
    # `--pipelines=train` alone trains every variant of train.models: hours, to rebuild a cache
    assert str(caught.value).endswith(
        "rebuild them alone with `kedro run --pipelines=train --nodes=build_split_tensors`"
    )
