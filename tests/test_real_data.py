"""Checks on the real data sets beside the project; skipped cleanly when ../shared is absent."""

import pytest

from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.labels import DEFAULT_ALIASES
from crack_pipeline.vision.data.scanning import OK, scan_folder
from tests.conftest import SHARED_DATA

OZGENEL = SHARED_DATA / "ozgenel_dev"


@pytest.mark.skipif(not OZGENEL.is_dir(), reason="../shared/data/ozgenel_dev is not present")
def test_ingest_ozgenel_dev_keeps_every_patch():
    index = scan_folder(Folder.scan(OZGENEL), DEFAULT_ALIASES).index
    kept = index[index.status == OK]
    assert kept.label.value_counts().to_dict() == {"crack": 2000, "no_crack": 2000}
    assert set(zip(kept.width, kept.height, strict=True)) == {(227, 227)}
    # The data set holds a few byte-identical patches; they are kept but grouped with their copy.
    copies = kept[kept.duplicate_of != ""]
    assert len(copies) > 0
    first_groups = kept.set_index("path").loc[copies.duplicate_of, "group"].to_numpy()
    assert (copies.group.to_numpy() == first_groups).all()
    # Only the two non-image files at the top level (SOURCE.md, manifest.csv) are skipped.
    assert set(index.path[index.status != OK]) == {"SOURCE.md", "manifest.csv"}
