"""Which augmentations make a crack model hold up on photos from elsewhere? Measured, not guessed.

Fine-tunes EfficientNet-Lite0 (ImageNet weights) on Özgenel's wall patches once per augmentation set, its
epoch chosen on validation patches held out of the training ones, then scores each model in domain
(`ozgenel_accuracy`: held-out Özgenel test patches at p(crack) >= 0.5) and out of domain, on CFD's whole
pavement photos (tiled at the training scale, as `explain` does): the share of cracked photos detected, and
the ROC AUC of tiles with crack pixels against tiles without any (a model that flags everything scores 0.5
there).
`--mix-synthetic N` adds N synthetic patches per class (which carry masks) to every training set.

Figures before this split (docs/benchmarks.md) chose each model's epoch on the very test patches whose
accuracy they report, which flatters `ozgenel_accuracy`.

Needs ../shared/data/{ozgenel_dev,cfd}. Last line: `ratio <CFD tile AUC of the best set / the baseline's>`.

    .venv/bin/python bench/augmentations.py                        # ~3 min per set on 2 cores
    .venv/bin/python bench/augmentations.py --sets baseline,all --per-class 300 --epochs 2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from arguments import positive_int
from shared_data import add_data_option, data_root, require_data
from sklearn.metrics import roc_auc_score

from crack_pipeline.vision.data.augment import AugmentConfig
from crack_pipeline.vision.data.image_io import decode_image
from crack_pipeline.vision.data.tensor_cache import ImageTensors, build_tensors, with_synthetic
from crack_pipeline.vision.explain.tiling import TilingConfig, aggregate, cut_tiles
from crack_pipeline.vision.models.inference import crack_probabilities, fold_batch_norms
from crack_pipeline.vision.models.precision import Precision, describe_cpu
from crack_pipeline.vision.models.registry import create_model, get_spec
from crack_pipeline.vision.training.config import TrainConfig
from crack_pipeline.vision.training.loop import fit

DEMO = {"hflip": True, "translate": 30}  # the MATLAB demo's augmentation: the baseline
GEOMETRIC = {"vflip": True, "rot90": True, "rotate": 45, "scale": (0.6, 1.6)}
PHOTOMETRIC = {
    "blur": 1.5,
    "noise": 0.03,
    "jpeg": 40,
    "colour": 0.1,
    "illumination": 0.25,
    "brightness": 0.1,
    "contrast": 0.2,
}
SETS = {
    "baseline": DEMO,
    "geometric": DEMO | GEOMETRIC,
    "photometric": DEMO | PHOTOMETRIC,
    "all": DEMO | GEOMETRIC | PHOTOMETRIC,
}


def ozgenel_parts(files: list[str], per_class: int) -> dict[str, list[str]]:
    """Of one class's `files`: `per_class` training, `per_class` / 6 validation (which choose the epoch) and
    `per_class` / 3 test patches, evenly spaced through them, no patch in two parts."""
    val_count, test_count = max(1, per_class // 6), per_class // 3
    picks = np.linspace(0, len(files) - 1, per_class + val_count + test_count).round().astype(int)
    chosen = [files[i] for i in picks]
    test, val = chosen[1::4][:test_count], chosen[3::4][:val_count]
    held_out = set(test) | set(val)
    return {"train": [f for f in chosen if f not in held_out], "val": val, "test": test}


def ozgenel(root: Path, per_class: int, size: int) -> dict[str, ImageTensors]:
    """{train, val, test} of Özgenel's patches in `root` (`ozgenel_parts` of each class), decoded at
    `size`."""
    parts: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for folder in ("Negative", "Positive"):
        files = sorted(p.relative_to(root).as_posix() for p in (root / folder).glob("*.jpg"))
        for name, paths in ozgenel_parts(files, per_class).items():
            parts[name] += paths
    return {
        name: build_tensors(
            [root / p for p in paths], paths, [int(p.startswith("Positive")) for p in paths], size
        )
        for name, paths in parts.items()
    }


def scorer(model) -> tuple[torch.nn.Module, Precision]:
    """`model` as the project infers (batch norms folded, `auto` inference precision), and that precision."""
    precision = Precision.resolve("auto", "inference")
    return precision.prepare(fold_batch_norms(model.eval())), precision


def accuracy_of(model, precision: Precision, spec, data: ImageTensors) -> float:
    p = crack_probabilities(model, data.images, spec.mean, spec.std, precision)
    return float(np.mean((p >= 0.5) == data.labels.numpy()))


def cfd_scores(
    root: Path, model, precision: Precision, spec, size: int, tiling: TilingConfig
) -> dict[str, float]:
    """Detected share of the (all cracked) CFD photos in `root`, and tile ROC AUC: crack tiles against clean
    ones; `model` as `scorer` makes it."""
    detected, labels, scores = [], [], []
    for image_path in sorted((root / "images").iterdir()):
        image = decode_image(image_path.read_bytes()).pixels
        mask = decode_image((root / "masks" / f"{image_path.stem}.png").read_bytes()).pixels.max(axis=2) > 127
        grid = tiling.grid(*image.shape[:2])
        p = crack_probabilities(
            model, torch.from_numpy(cut_tiles(image, grid, size)), spec.mean, spec.std, precision
        )
        detected.append(aggregate(p, tiling.aggregate, tiling.top_k) >= 0.5)
        for (y, x), probability in zip(grid.origins(), p, strict=True):
            share = mask[y : y + grid.tile_height, x : x + grid.tile_width].mean()
            if share == 0 or share >= 0.005:  # clean tiles against clearly cracked ones
                labels.append(share > 0)
                scores.append(probability)
    return {
        "cfd_detected": float(np.mean(detected)),
        "cfd_tile_auc": float(roc_auc_score(labels, scores)),
        "cfd_tiles": len(labels),
        "cfd_crack_tiles": int(np.sum(labels)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of {list(SETS)}")
    parser.add_argument(
        "--per-class", type=positive_int, default=600, help="Özgenel training patches per class"
    )
    parser.add_argument("--epochs", type=positive_int, default=3, help="at least 1")
    parser.add_argument("--size", type=positive_int, default=160, help="input side, px")
    parser.add_argument(
        "--tile", type=positive_int, default=113, help="CFD tile side (113: 43 %% of the tiles clean)"
    )
    parser.add_argument("--mix-synthetic", type=int, default=0, help="synthetic patches per class added")
    add_data_option(parser)
    args = parser.parse_args()
    unknown = sorted(set(args.sets.split(",")) - set(SETS))
    if unknown:  # else a KeyError once the data was decoded
        parser.error(f"--sets: unknown {', '.join(unknown)}; known: {', '.join(SETS)}")
    ozgenel_dev, cfd = require_data(data_root(args), "ozgenel_dev", "cfd")

    parts = ozgenel(ozgenel_dev, args.per_class, args.size)
    train, val, test = with_synthetic(parts["train"], args.mix_synthetic, seed=0), parts["val"], parts["test"]
    spec = get_spec("efficientnet_lite0")
    tiling = TilingConfig(tile_size=args.tile)
    training, scoring = (Precision.resolve("auto", use).name for use in ("fine_tune", "inference"))
    print(
        f"{describe_cpu()}; precision {training} (training), {scoring} (scoring); "
        f"train {len(train)} ({args.mix_synthetic} synthetic per class), Özgenel validation {len(val)} "
        f"(chooses the epoch), test {len(test)}, "
        f"{args.epochs} epochs at {args.size} px, CFD tiles of {args.tile} px",
        flush=True,
    )
    results = {}
    for name in args.sets.split(","):
        torch.manual_seed(0)
        model = create_model(spec.name, num_classes=2, pretrained=True)
        config = TrainConfig(
            epochs=args.epochs,
            freeze_backbone_epochs=1,
            patience=args.epochs,
            progress=False,
            augment=AugmentConfig(**SETS[name]),
        )
        started = time.perf_counter()
        result = fit(model, spec, train, val, config, pretrained=True)  # its precision: fine_tune's
        scoring_model, precision = scorer(result.model)
        accuracy = accuracy_of(scoring_model, precision, spec, test)
        results[name] = {
            "ozgenel_accuracy": accuracy,
            **cfd_scores(cfd, scoring_model, precision, spec, args.size, tiling),
        }
        r = results[name]
        print(
            f"set={name} ozgenel_accuracy={accuracy:.4f} cfd_detected={r['cfd_detected']:.3f} "
            f"cfd_tile_auc={r['cfd_tile_auc']:.3f} (tiles {r['cfd_tiles']}, cracked {r['cfd_crack_tiles']}) "
            f"train_s={time.perf_counter() - started:.0f}",
            flush=True,
        )
    best = max(results, key=lambda n: results[n]["cfd_tile_auc"])
    print(f"best set: {best}")
    if "baseline" not in results:  # the first set asked for was silently taken as the baseline
        print("ratio undefined (the baseline set did not run: add it to --sets)")
    else:
        print(f"ratio {results[best]['cfd_tile_auc'] / results['baseline']['cfd_tile_auc']:.3f}")


if __name__ == "__main__":
    main()
