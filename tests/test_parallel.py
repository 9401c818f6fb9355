"""Work over processes: results in order, and no more of them made ahead than asked."""

import time
from pathlib import Path

from crack_pipeline.vision.data.parallel import parallel_map


def _mark(path: str) -> str:
    Path(path).touch()
    return path


def test_results_are_made_only_a_few_ahead_of_the_ones_used(tmp_path):
    items = [str(tmp_path / f"{i:02d}") for i in range(20)]
    results = parallel_map(_mark, items, workers=2, start_method="fork", ahead=3)
    assert next(results) == items[0]
    time.sleep(1.0)  # time for the workers to run on, were they given more
    assert len(list(tmp_path.iterdir())) <= 4, "the one used and at most 3 ahead"
    assert list(results) == items[1:]
