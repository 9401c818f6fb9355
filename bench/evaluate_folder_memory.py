"""Memory of `evaluate_folder` against the size of the folder: read whole (one part as large as the folder,
as before) or a part (`listed_images.PART`) at a time.

Data: ../shared/data/ozgenel_dev (4,000 real 227-px JPEGs) when present, else 2,000 synthetic images, scanned
as the pipeline scans a folder: a quarter of them, then all, a quarter of each left unlabelled (ranked for
labelling, with their contact sheet). Model: efficientnet_lite0 at `--size` px with its ImageNet weights and
a seeded new head (the scores do not matter here), one view, threshold 0.5. Each way runs the node in a
process of its own; its peak RSS over what it held with the model loaded is measured. Prints each run's peak
and seconds, whether both ways' outputs agree, and last `ratio <peak read whole / peak in parts>` of all.

    .venv/bin/python bench/evaluate_folder_memory.py     # about 8 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from ingest import synthetic_folder
from shared_data import add_data_option, optional_data

from crack_pipeline.vision.data import listed_images
from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.labels import DEFAULT_ALIASES
from crack_pipeline.vision.data.scanning import scan_folder
from crack_pipeline.vision.models.checkpoint import make_checkpoint
from crack_pipeline.vision.models.precision import Precision, describe_cpu
from crack_pipeline.vision.models.registry import get_spec


def memory_gb(field: str) -> float:
    """VmRSS (now) or VmHWM (the peak since `reset_peak`) of this process, from Linux's /proc."""
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field))
    return int(line.split()[1]) / 1e6  # kB


def reset_peak() -> None:
    """The peak RSS starts again from now (Linux 4.0+): building the model peaked higher than it holds."""
    Path("/proc/self/clear_refs").write_text("5")


def child(index_file: Path, size: int, part: int, out: Path) -> None:
    """One way: the evaluate_folder node on the scanned folder, its figures and outputs to `out`."""
    from crack_pipeline.pipelines.evaluate_folder.nodes import evaluate_folder

    torch.manual_seed(0)  # the same new head in both ways' processes
    model = get_spec("efficientnet_lite0").build(2, True, None)
    untrained = {"train_config": {}, "best_epoch": 0, "best_metrics": {}}  # no threshold: 0.5
    unknown = {"data_fingerprint": "", "split_fingerprint": "", "git_commit": ""}
    checkpoint = make_checkpoint(model, "lite0", "efficientnet_lite0", size, **untrained, **unknown)
    del model
    index = pd.read_csv(index_file, keep_default_na=False)
    listed_images.PART = part
    reset_peak()
    before, started = memory_gb("VmRSS"), time.perf_counter()
    metrics, predictions, label_next, figures = evaluate_folder(index, checkpoint, {}, {}, "cpu")
    seconds, peak = time.perf_counter() - started, memory_gb("VmHWM") - before
    predictions.to_csv(out / "predictions.csv", index=False)
    label_next.to_csv(out / "label_next.csv", index=False)
    json.dump({"seconds": seconds, "peak": peak, "figures": sorted(figures)}, (out / "run.json").open("w"))


def run_way(index_file: Path, size: int, part: int, out: Path) -> dict:
    out.mkdir()
    command = [sys.executable, __file__, "--child", str(index_file), "--size", str(size), "--part", str(part)]
    subprocess.run([*command, "--out", str(out)], check=True)
    return {
        **json.loads((out / "run.json").read_text()),
        "predictions": pd.read_csv(out / "predictions.csv"),
        "label_next": pd.read_csv(out / "label_next.csv"),
    }


def partly_unlabelled(index: pd.DataFrame) -> pd.DataFrame:
    """`index` with the label of every fourth image taken away."""
    every_fourth = pd.Series(range(len(index)), index=index.index) % 4 == 3
    return index.assign(label=index.label.where(~every_fourth, ""))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--part", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    add_data_option(parser)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.size, args.part, args.out)
        return
    with tempfile.TemporaryDirectory() as scratch:
        root = optional_data(args, "ozgenel_dev") or synthetic_folder(Path(scratch) / "synthetic", 1000)
        index = scan_folder(Folder.scan(root), DEFAULT_ALIASES).index
        runs = {}
        for count, rows in (("quarter", index.iloc[::4]), ("all", index)):
            index_file = Path(scratch) / f"{count}.csv"
            partly_unlabelled(rows).to_csv(index_file, index=False)
            for way, part in (("whole", len(rows)), ("parts", listed_images.PART)):
                runs[count, way] = run_way(index_file, args.size, part, Path(scratch) / f"{count}_{way}")
    precision = Precision.resolve("auto", "inference", "cpu").name
    print(f"{describe_cpu()}; {precision} inference (auto), efficientnet_lite0 at {args.size} px, one view")
    print(f"{root.name}, a quarter of the images and all; a quarter of each left unlabelled")
    for count, rows in (("quarter", index.iloc[::4]), ("all", index)):
        decoded = len(rows) * 3 * args.size**2 / 1e9
        for way, name in (("whole", "read whole"), ("parts", f"{listed_images.PART} at a time")):
            run = runs[count, way]
            print(
                f"{len(rows)} images ({decoded:.2f} GB decoded), {name}: peak RSS over the model's "
                f"{run['peak']:.2f} GB, {run['seconds']:.0f} s"
            )
        whole, parts = runs[count, "whole"], runs[count, "parts"]
        same = all(whole[table].equals(parts[table]) for table in ("predictions", "label_next"))
        print(f"  predictions and ranking identical: {same}; figures: {', '.join(parts['figures'])}")
    print(f"ratio {runs['all', 'whole']['peak'] / runs['all', 'parts']['peak']:.2f}")


if __name__ == "__main__":
    main()
