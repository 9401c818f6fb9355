"""What heatmaps through training (`train.cam_progress`) cost: the seconds of each epoch's CAMs against the
epoch's own training seconds, with the variants' settings of conf/base, on

  - `make run`'s split (the synthetic data at 160 px, its crack masks scoring the pointing game), and
  - with --ozgenel, 2,800 training and 600 validation patches of ../shared/data/ozgenel_dev at 224 px.

Prints one line per epoch (seconds, CAM seconds, pointing game) and, last,
`ratio <CAM seconds / epoch seconds over every epoch run>` (the target: at most 0.05).

    .venv/bin/python bench/cam_progress.py            # needs `make run`; ~3 min
    .venv/bin/python bench/cam_progress.py --ozgenel  # ~20 min
"""

from __future__ import annotations

import argparse
import dataclasses
import random
from pathlib import Path

import yaml
from arguments import positive_int, ratio_line
from shared_data import add_data_option, data_root, require_data
from trained_run import DATA

from crack_pipeline.datasets import TensorCacheDataset
from crack_pipeline.pipelines.train.variants import variant_settings
from crack_pipeline.vision.data.folder import Folder
from crack_pipeline.vision.data.masks import read_masks_of
from crack_pipeline.vision.data.tensor_cache import ImageTensors, build_tensors
from crack_pipeline.vision.explain.cam_progress import CamProgressConfig, cam_progress
from crack_pipeline.vision.models.precision import describe_cpu
from crack_pipeline.vision.models.registry import create_model, get_spec
from crack_pipeline.vision.settings import settings_from
from crack_pipeline.vision.training.config import TrainConfig
from crack_pipeline.vision.training.loop import fit

PROJECT = Path(__file__).resolve().parents[1]


def synthetic_split() -> tuple[ImageTensors, ImageTensors, Folder | None]:
    path = DATA / "05_model_input/split_tensors.pt"
    if not path.is_file():
        raise SystemExit("no data/05_model_input/split_tensors.pt: run `make run` first")
    split = TensorCacheDataset(filepath=str(path)).load()
    return split["train"], split["val"], Folder.scan(DATA / "01_raw/synthetic/masks")


def ozgenel_split(data: Path, seed: int = 0) -> tuple[ImageTensors, ImageTensors, None]:
    (ozgenel,) = require_data(data, "ozgenel_dev")
    parts: dict[str, list[tuple[Path, int]]] = {"train": [], "val": []}
    for folder, label in (("Positive", 1), ("Negative", 0)):
        files = sorted((ozgenel / folder).iterdir())
        random.Random(seed).shuffle(files)
        parts["train"] += [(f, label) for f in files[:1400]]
        parts["val"] += [(f, label) for f in files[1400:1700]]
    built = {
        name: build_tensors([f for f, _ in rows], [f.name for f, _ in rows], [lab for _, lab in rows], 224)
        for name, rows in parts.items()
    }
    return built["train"], built["val"], None


def arguments(models: dict[str, dict], argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked: variants of conf/base's `train.models` (`models`) that are classifiers."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--ozgenel", action="store_true", help="Özgenel patches at 224 px, not make run's split"
    )
    parser.add_argument("--epochs", type=positive_int, default=2, help="training epochs (at least 1)")
    parser.add_argument(  # else a KeyError once the data was decoded
        "--variants",
        nargs="+",
        default=["small_cnn", "efficientnet_lite0"],
        choices=list(models),
    )
    add_data_option(parser)
    args = parser.parse_args(argv)
    # A one-class model fits a memory bank in one pass: no epochs to time, no class score to explain
    # (it crashed on an empty memory bank after the data was decoded).
    classifiers = [name for name, v in models.items() if get_spec(v["architecture"]).kind == "supervised"]
    if one_class := [name for name in args.variants if name not in classifiers]:
        parser.error(
            f"{', '.join(one_class)}: a one-class model, trained in one pass without epochs and explained by "
            f"its anomaly map, has no heatmaps through training; choose from {', '.join(classifiers)}"
        )
    return args


def main() -> None:
    train_params = yaml.safe_load((PROJECT / "conf/base/parameters_train.yml").read_text())["train"]
    args = arguments(train_params["models"])
    progress_config = settings_from(CamProgressConfig, train_params["cam_progress"], "train.cam_progress")
    train, val, masks = ozgenel_split(data_root(args)) if args.ozgenel else synthetic_split()
    print(
        f"{describe_cpu()}; precision fp32; {len(train)} training and {len(val)} validation images at "
        f"{train.images.shape[-1]} px; {progress_config.samples} {progress_config.method} CAMs per epoch"
    )
    total_cam, total_epoch = 0.0, 0.0
    for name in args.variants:
        variant = train_params["models"][name]
        settings = {**variant_settings(train_params, variant), "progress": False, "precision": "fp32"}
        config = dataclasses.replace(
            settings_from(TrainConfig, settings, name), epochs=args.epochs, patience=99
        )
        spec = get_spec(variant["architecture"])
        progress = cam_progress(spec, val, lambda keys: read_masks_of(masks, keys), progress_config)
        model = create_model(spec.name, pretrained=bool(variant.get("pretrained")))
        result = fit(
            model,
            spec,
            train,
            val,
            config,
            pretrained=bool(variant.get("pretrained")),
            observe_epoch=progress,
        )
        cam_seconds = dict(zip(progress.epochs, progress.seconds, strict=True))
        for row in result.history:
            if "seconds" not in row:  # the head stage's epoch 0 has no training epoch to compare with
                continue
            cams = cam_seconds[row["epoch"]]
            total_cam += cams
            total_epoch += row["seconds"]
            pointing = row.get("cam_pointing_game")
            print(
                f"{name} epoch {row['epoch']}: {row['seconds']:.1f} s, CAMs {cams:.2f} s "
                f"({cams / row['seconds']:.1%}), val accuracy {row['val_accuracy']:.3f}, "
                f"pointing game {'-' if pointing is None else f'{pointing:.2f}'}"
            )
    print(ratio_line(total_cam, total_epoch, "the training seconds", 4))


if __name__ == "__main__":
    main()
