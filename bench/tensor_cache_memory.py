"""Memory of building the decoded split (the tensor cache) against the size of the cache it makes.

Data: ../shared/data/ozgenel_dev (4,000 real 227-px JPEGs) when present, else 2,000 synthetic images, in a
70/20/10 train/val/test split decoded at `--size` px with `decode_splits`, as the train pipeline does, in
this process, whose peak RSS over what it held before decoding is measured. Prints the cache's bytes, that
peak and, last, `ratio <peak over start / cache bytes>` (1.0: the images held once).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd
from ingest import synthetic_folder
from shared_data import add_data_option, optional_data

from crack_pipeline.vision.data.tensor_cache import decode_splits
from crack_pipeline.vision.models.precision import describe_cpu


def manifest_of(root: Path) -> pd.DataFrame:
    labels = {"Positive": "crack", "Negative": "no_crack"}
    rows = [
        ("site", path.relative_to(root).as_posix(), label, str(root))
        for folder, label in labels.items()
        for path in sorted((root / folder).iterdir())
    ]
    table = pd.DataFrame(rows, columns=["domain", "path", "label", "root"])
    tenths = ["train"] * 7 + ["val"] * 2 + ["test"]
    return table.assign(split=[tenths[i % 10] for i in range(len(table))])


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kilobytes on Linux


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--workers", type=int, default=None)
    add_data_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = optional_data(args, "ozgenel_dev") or synthetic_folder(Path(scratch), 1000)
        manifest = manifest_of(root)
        before, started = peak_gb(), time.perf_counter()
        tensors = decode_splits(manifest, args.size, workers=args.workers)
        seconds, peak = time.perf_counter() - started, peak_gb() - before
    cache = sum(part.images.nbytes for part in tensors.values()) / 1e9
    print(f"{describe_cpu()}; uint8 tensors, no model")
    print(
        f"{len(manifest)} images of {root.name} at {args.size} px in {seconds:.1f} s: cache {cache:.2f} GB, "
        f"peak RSS over start {peak:.2f} GB"
    )
    print(f"ratio {peak / cache:.2f}")


if __name__ == "__main__":
    main()
