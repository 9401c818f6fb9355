"""Ingest throughput: the project's validating ingest against a bare single-threaded PIL decode loop.

Data: ../shared/data/ozgenel_dev (4,000 real 227-px JPEGs) when present, else 2,000 synthetic images.
Both sides read the same files from the same (warmed) page cache. Prints the CPU, images/s for each and,
last, `ratio <project/baseline>`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from arguments import positive_int
from PIL import Image
from shared_data import add_data_option, optional_data

from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.labels import DEFAULT_ALIASES
from crack_pipeline.vision.data.scanning import OK, scan_folder
from crack_pipeline.vision.data.synthetic import SynthConfig, generate


def bare_decode_loop(paths: list[Path]) -> None:
    """What a tutorial does: open and fully decode each image, one after another."""
    for path in paths:
        with Image.open(path) as image:
            image.convert("RGB")


def synthetic_folder(root: Path, count_per_class: int) -> Path:
    images, _ = generate(SynthConfig(count_per_class=count_per_class, seed=0))
    for name, data in images.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def seconds(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--repeats", type=positive_int, default=5, help="best of N interleaved timings per side (N >= 1)"
    )
    add_data_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = optional_data(args, "ozgenel_dev") or synthetic_folder(Path(scratch), 1000)
        folder = Folder.scan(root)
        index = scan_folder(folder, DEFAULT_ALIASES).index  # also warms the page cache for both sides
        images = [folder.path_of(p) for p in index.path[index.status == OK]]
        n, kept = len(folder.files), len(images)
        # Interleaved, best of N each: this VM's core speed drifts by tens of percent within a minute.
        timings = [
            (seconds(bare_decode_loop, images), seconds(scan_folder, folder, DEFAULT_ALIASES))
            for _ in range(args.repeats)
        ]
        baseline, project = (min(side) for side in zip(*timings, strict=True))
    # Imported after the timings: torch in this module made each of ingest's workers (which run it again,
    # the fork server's way) take seconds to start.
    from crack_pipeline.vision.models.precision import describe_cpu

    print(f"{describe_cpu()}; decoding only, no model")
    print(f"data: {root} ({n} files, {kept} kept by ingest)")
    print(f"baseline  bare single-threaded PIL decode of the {kept} images: {kept / baseline:8.1f} images/s")
    print(
        f"project   ingest of all {n} files (decode, validate, hash, stats): {kept / project:8.1f} images/s"
    )
    print(f"ratio {baseline / project:.2f}")


if __name__ == "__main__":
    main()
