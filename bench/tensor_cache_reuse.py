"""Rebuilding the decoded split (the tensor cache) after a retrain adds new photos, against decoding it all.

Data: ../shared/data/ozgenel_dev (4,000 real 227-px JPEGs) when present, else 2,000 synthetic images, in a
70/20/10 split at `--size` px. The last build's cache holds all but `--new` of them (every n-th image is
new); the build then decodes the split again from scratch, and once more knowing the last cache
(`pixels_by_content`: the known images are only read and checked against their SHA-256, their pixels
copied), `--repeats` times each, alternated. Prints the times, whether the two builds are identical, and
last `ratio <median from scratch / median knowing the last cache>`.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    # Imported here: each decoding worker runs this module again (the fork server's way), and with torch
    # imported at the top each took seconds to start, which a `kedro run`'s workers do not.
    import torch
    from arguments import positive_int, share
    from ingest import synthetic_folder
    from shared_data import add_data_option, optional_data
    from tensor_cache_memory import manifest_of

    from crack_pipeline.datasets.tensor_cache import PreviousTensorCacheDataset, TensorCacheDataset
    from crack_pipeline.vision.data.tensor_cache import decode_splits, pixels_by_content
    from crack_pipeline.vision.models.precision import describe_cpu

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=positive_int, default=224)
    parser.add_argument(
        "--new", type=share, default=0.1, help="share of the images the last build lacked (0 < new <= 0.5)"
    )
    parser.add_argument("--workers", type=positive_int, default=None, help="default: every core")
    parser.add_argument("--repeats", type=positive_int, default=5, help="builds of each side (at least 1)")
    add_data_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = optional_data(args, "ozgenel_dev") or synthetic_folder(Path(scratch) / "synthetic", 1000)
        manifest = manifest_of(root)
        manifest["sha256"] = [hashlib.sha256((root / p).read_bytes()).hexdigest() for p in manifest.path]
        step = round(1 / args.new)
        last = manifest[[i % step != step - 1 for i in range(len(manifest))]]
        cache = Path(scratch) / "split_tensors.pt"
        TensorCacheDataset(filepath=str(cache)).save(decode_splits(last, args.size, workers=args.workers))

        from_scratch, knowing = [], []
        for _ in range(args.repeats):  # alternated: the first build after another one ran is the slower
            started = time.perf_counter()
            scratch_built = decode_splits(manifest, args.size, workers=args.workers)
            from_scratch.append(time.perf_counter() - started)
            started = time.perf_counter()
            previous = PreviousTensorCacheDataset(filepath=str(cache)).load()
            known = pixels_by_content(previous(), args.size)
            rebuilt = decode_splits(manifest, args.size, workers=args.workers, known=known)
            del known
            knowing.append(time.perf_counter() - started)
    identical = all(
        rebuilt[s].paths == part.paths and torch.equal(rebuilt[s].images, part.images)
        for s, part in scratch_built.items()
    )
    print(f"{describe_cpu()}; uint8 tensors, no model")
    print(
        f"{len(manifest)} images of {root.name} at {args.size} px, {len(manifest) - len(last)} new: from "
        f"scratch {', '.join(f'{t:.1f}' for t in from_scratch)} s, knowing the last cache "
        f"{', '.join(f'{t:.1f}' for t in knowing)} s; identical: {identical}"
    )
    print(f"ratio {statistics.median(from_scratch) / statistics.median(knowing):.2f}")


if __name__ == "__main__":
    main()
