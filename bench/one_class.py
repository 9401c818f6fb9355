"""A model trained without crack photos (`patch_memory`) against supervised ones, per domain.

On ../shared/data/ozgenel_dev (a seeded split) and ../shared/data/sdnet_walls_dev (split by parent photo),
at 224 px, prints ROC-AUC and balanced accuracy on the domain's test images for:
  - one-class: `patch_memory` fitted on that domain's clean training images only, threshold at 2 % false
    alarms on its clean validation images;
  - the supervised model trained on Özgenel (EfficientNet-Lite0, ImageNet weights, the real-data recipe's
    head stage: 20 passes over the frozen backbone's features; threshold 0.5);
  - on SDNET, that supervised recipe trained on Özgenel plus SDNET's clean training images and 0, 10 or 50
    of its cracked ones.
Then the one-class model's memory bank size and scoring speed (images/s, 2 cores, fp32) and, last,
`ratio <one-class ROC-AUC on SDNET / the Özgenel-trained supervised model's>` (the target: above 1).

`--size` (default 224) and `--per-class` (images of each class per domain, evenly spaced through its folder;
default all: 2,000 Özgenel, 1,000 SDNET walls) make a quick run.

    .venv/bin/python bench/one_class.py     # ~12 min on 2 cores
    .venv/bin/python bench/one_class.py --per-class 60 --size 64     # a smoke run
"""

from __future__ import annotations

import argparse
import copy
import random
import time
from pathlib import Path

import torch
from arguments import positive_int
from shared_data import add_data_option, data_root, require_data
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from crack_pipeline.vision.data.tensor_cache import ImageTensors, build_tensors
from crack_pipeline.vision.evaluation.metrics import threshold_for_false_alarms
from crack_pipeline.vision.models.inference import crack_probabilities, fold_batch_norms
from crack_pipeline.vision.models.precision import Precision, describe_cpu
from crack_pipeline.vision.models.registry import create_model, get_spec
from crack_pipeline.vision.training.config import TrainConfig
from crack_pipeline.vision.training.loop import fit
from crack_pipeline.vision.training.one_class import OneClassConfig, fit_patch_memory

FP32 = Precision("fp32")


def tensors(rows: list[tuple[Path, int]], size: int) -> ImageTensors:
    return build_tensors(
        [f for f, _ in rows], [f"{f.parent.name}/{f.name}" for f, _ in rows], [y for _, y in rows], size
    )


def evenly(files: list[Path], count: int | None) -> list[Path]:
    """`count` of `files` evenly spaced through them (all of them with None)."""
    if count is None or count >= len(files):
        return files
    return [files[round(i * (len(files) - 1) / max(1, count - 1))] for i in range(count)]


def labelled(domain: Path, per_class: int | None = None) -> list[tuple[Path, int]]:
    return [
        (f, label)
        for folder, label in (("Positive", 1), ("Negative", 0))
        for f in evenly(sorted((domain / folder).iterdir()), per_class)
    ]


def ozgenel_split(
    folder: Path, per_class: int | None = None, seed: int = 0
) -> dict[str, list[tuple[Path, int]]]:
    """70 / 15 / 15 % (2,800 / 600 / 600 of all 4,000), by a seeded shuffle."""
    rows = labelled(folder, per_class)
    random.Random(seed).shuffle(rows)
    train, val = round(0.7 * len(rows)), round(0.85 * len(rows))
    return {"train": rows[:train], "val": rows[train:val], "test": rows[val:]}


def sdnet_split(
    folder: Path, per_class: int | None = None, seed: int = 0
) -> dict[str, list[tuple[Path, int]]]:
    """By parent photo: a third of the photos for test, a sixth for validation."""
    rows = labelled(folder, per_class)
    photos = sorted({f.name.split("-")[0] for f, _ in rows})
    random.Random(seed).shuffle(photos)
    test, val = set(photos[: len(photos) // 3]), set(photos[len(photos) // 3 : len(photos) // 2])
    part = {"train": [], "val": [], "test": []}
    for f, y in rows:
        photo = f.name.split("-")[0]
        part["test" if photo in test else "val" if photo in val else "train"].append((f, y))
    return part


def roc_auc(model, spec, data: ImageTensors) -> float:
    return roc_auc_score(
        data.labels.numpy(), crack_probabilities(model, data.images, spec.mean, spec.std, FP32)
    )


def scores(model, spec, data: ImageTensors, threshold: float) -> str:
    p = crack_probabilities(model, data.images, spec.mean, spec.std, FP32)
    y = data.labels.numpy()
    balanced = balanced_accuracy_score(y, p >= threshold)
    return f"roc_auc {roc_auc_score(y, p):.4f} balanced_accuracy {balanced:.4f}"


def one_class(split: dict[str, ImageTensors]):
    spec = get_spec("patch_memory_lite0")
    result = fit_patch_memory(
        create_model(spec.name, pretrained=True), spec, split["train"], split["val"], OneClassConfig()
    )
    probabilities = crack_probabilities(result.model, split["val"].images, spec.mean, spec.std, FP32)
    threshold = threshold_for_false_alarms(split["val"].labels.numpy(), probabilities, 0.02)["value"]
    return result, spec, threshold


def supervised(train: ImageTensors, val: ImageTensors):
    spec = get_spec("efficientnet_lite0")
    torch.manual_seed(42)
    model = create_model(spec.name, pretrained=True)
    config = TrainConfig(epochs=0, head_passes=20, precision="fp32", progress=False)
    return fit(model, spec, train, val, config, pretrained=True).model, spec


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=positive_int, default=224, help="input side, px (default 224)")
    parser.add_argument(
        "--per-class", type=positive_int, default=None, help="images of each class per domain (default: all)"
    )
    add_data_option(parser)
    args = parser.parse_args()
    ozgenel, sdnet_walls = require_data(data_root(args), "ozgenel_dev", "sdnet_walls_dev")
    sdnet_aucs: list[float] = []
    print(f"{describe_cpu()}; precision fp32; {args.size} px")
    oz = {name: tensors(rows, args.size) for name, rows in ozgenel_split(ozgenel, args.per_class).items()}
    sd = {name: tensors(rows, args.size) for name, rows in sdnet_split(sdnet_walls, args.per_class).items()}
    print(
        f"ozgenel: {', '.join(f'{k} {len(v)}' for k, v in oz.items())}; sdnet_walls (by photo): "
        f"{', '.join(f'{k} {len(v)}' for k, v in sd.items())}"
    )
    champion, lite0 = supervised(oz["train"], oz["val"])
    for domain, split in (("ozgenel", oz), ("sdnet_walls", sd)):
        started = time.perf_counter()
        result, spec, threshold = one_class(split)
        fitted = time.perf_counter() - started
        clean = int((split["train"].labels == 0).sum())
        print(
            f"{domain} one-class ({clean} clean training images, fitted in {fitted:.0f} s): "
            f"{scores(result.model, spec, split['test'], threshold)}"
        )
        print(f"{domain} supervised, trained on ozgenel: {scores(champion, lite0, split['test'], 0.5)}")
        if domain == "sdnet_walls":
            sdnet_aucs = [roc_auc(m, s, split["test"]) for m, s in ((result.model, spec), (champion, lite0))]
        if domain == "sdnet_walls":
            generator = torch.Generator().manual_seed(0)
            cracked = torch.nonzero(split["train"].labels == 1).flatten()
            cracked = cracked[torch.randperm(len(cracked), generator=generator)]
            clean_rows = torch.nonzero(split["train"].labels == 0).flatten()
            for count in (0, 10, 50):
                keys = [split["train"].paths[i] for i in torch.cat([clean_rows, cracked[:count]]).tolist()]
                model, _ = supervised(oz["train"].concat(split["train"].subset(keys)), oz["val"])
                print(
                    f"{domain} supervised, ozgenel + sdnet clean + {count} sdnet cracks: "
                    f"{scores(model, lite0, split['test'], 0.5)}"
                )
        model = result.model
        # Scored as the pipeline scores (`inference_model`): batch norms folded, channels last.
        scorer = FP32.prepare(fold_batch_norms(copy.deepcopy(model)))
        started = time.perf_counter()
        crack_probabilities(scorer, split["test"].images, spec.mean, spec.std, FP32)
        speed = len(split["test"]) / (time.perf_counter() - started)
        print(
            f"{domain} one-class bank {len(model.head.bank)} patches x {model.head.bank.shape[1]} = "
            f"{model.head.bank.numel() * 4 / 1e6:.1f} MB; scoring {speed:.1f} images/s"
        )
    # The target: one-class from SDNET's clean images alone above the Özgenel-trained supervised model.
    print(f"ratio {sdnet_aucs[0] / sdnet_aucs[1]:.4f}")


if __name__ == "__main__":
    main()
