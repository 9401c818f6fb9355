"""Decoding a split for training: a file changed or broken since ingest validated it is left out, named."""

from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.labels import DEFAULT_ALIASES
from crack_pipeline.vision.data.sources import Source, scan_sources
from crack_pipeline.vision.data.tensor_cache import decode_listed
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
