"""fp32 against bf16 on this CPU, for the default run's variants: where does bf16 change what a user sees?

The built-in synthetic data as the default run makes it (400 images per class at 227 px, split 0.7/0.15/0.15
with seed 42, decoded at train.image_size; `--per-class`, `--size` and `--epochs` make a quick run), and each
variant of `train.variants` with its settings from conf/:
  (a) trained in fp32 and in bf16 (autocast + channels_last) from the same seed: test accuracy, seconds;
  (b) with the fp32 weights, inference in fp32 and in bf16: share of test images given the same class,
      largest |p_fp32 - p_bf16|, images/s;
  (c) LayerCAM at the registry's CAM layer in fp32 and in bf16, fp32 weights: Pearson correlation of the
      maps (mean and smallest), pointing game of each on the test cracks, seconds.
Each side is warmed up untimed before it is timed (training: each of the variant's stages once over one
batch; inference and LayerCAM: a first batch), so that a process's one-time costs (first allocations, the
thread pool, the kernels of a dtype and layout) do not fall on whichever precision runs first; figures
before this warm-up (docs/benchmarks.md) charged them to fp32's training.
`precision: auto` picks bf16 only for the uses in `AUTO_BF16_USES` (vision/models/precision.py), chosen from
this output. Prints the CPU first and, last, `ratio <fp32 / bf16 training seconds of the first variant>`.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import torch
from arguments import positive_int
from champion import domain_split
from fitted import bench_checkpoint
from PIL import Image

from crack_pipeline.config import project_parameters
from crack_pipeline.pipelines.train.variants import variant_settings
from crack_pipeline.vision.data.synthetic import SynthConfig, generate
from crack_pipeline.vision.data.tensor_cache import ImageTensors, decode_listed
from crack_pipeline.vision.explain.cam import CamExplainer
from crack_pipeline.vision.explain.localisation import pointing_game
from crack_pipeline.vision.explain.tiling import resize_heatmap
from crack_pipeline.vision.models.inference import crack_probabilities, inference_model
from crack_pipeline.vision.models.precision import AUTO_BF16_USES, Precision, describe_cpu
from crack_pipeline.vision.models.registry import create_model, get_spec
from crack_pipeline.vision.settings import settings_from
from crack_pipeline.vision.training.config import TrainConfig
from crack_pipeline.vision.training.loop import fit

PRECISIONS = ("fp32", "bf16")


def default_data(
    folder: Path, image_size: int, per_class: int = 400
) -> tuple[dict[str, ImageTensors], dict[str, np.ndarray]]:
    """The default run's synthetic images (`per_class` of each class), split and decoded; the crack masks by
    image stem."""
    images, masks = generate(SynthConfig(count_per_class=per_class, image_size=227, seed=42, difficulty=0.5))
    for name, content in images.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    paths = sorted(images)
    labels = ["crack" if path.startswith("Positive") else "no_crack" for path in paths]
    # decode_listed keys each image by domain and path, as the pipeline's split manifest does
    table = pd.DataFrame(
        {"domain": "synthetic", "path": paths, "root": str(folder), "label": labels, "group": paths}
    )
    ratios = {"train": 0.7, "val": 0.15, "test": 0.15}
    more = f"give it more images (--per-class, {per_class} now)"
    table["split"] = domain_split("synthetic", table, ratios, str(folder), remedy=more)
    tensors = {split: decode_listed(rows, image_size) for split, rows in table.groupby("split")}
    stems = {
        PurePosixPath(name).stem: np.asarray(Image.open(io.BytesIO(content)).convert("L")) > 127
        for name, content in masks.items()
    }
    return tensors, stems


def warm_up(settings: dict, model_settings: dict, train: ImageTensors, precision: str) -> None:
    """Untimed, before the timed training: each stage the variant trains in (head stage, frozen backbone,
    whole model) once, over one batch at `precision` (both classes)."""
    epochs = settings.get("freeze_backbone_epochs", 0) + 1
    warm = {"epochs": epochs, "patience": epochs, "precision": precision, "progress": False}
    config = settings_from(TrainConfig, {**settings, **warm}, "train")
    few = train.subset(train.paths[:: max(1, len(train) // config.batch_size)][: config.batch_size])
    spec, pretrained = get_spec(model_settings["architecture"]), bool(model_settings.get("pretrained"))
    fit(create_model(spec.name, pretrained=pretrained), spec, few, few, config, pretrained=pretrained)


def trained(settings: dict, model_settings: dict, tensors: dict, precision: str) -> tuple[dict, float]:
    """(a) The variant trained at `precision` from its seed, after a warm-up: its checkpoint and the seconds
    it took."""
    config = settings_from(TrainConfig, {**settings, "precision": precision, "progress": False}, "train")
    spec, pretrained = get_spec(model_settings["architecture"]), bool(model_settings.get("pretrained"))
    warm_up(settings, model_settings, tensors["train"], precision)
    torch.manual_seed(config.seed)
    model = create_model(spec.name, pretrained=pretrained)
    started = time.perf_counter()
    result = fit(model, spec, tensors["train"], tensors["val"], config, pretrained=pretrained)
    return bench_checkpoint(
        result.model, spec.name, tensors["train"].images.shape[-1]
    ), time.perf_counter() - started


def probabilities(checkpoint: dict, images: torch.Tensor, precision: str) -> tuple[np.ndarray, float]:
    """p(crack) at `precision`, and images per second."""
    resolved = Precision(precision)
    model = inference_model(checkpoint, resolved)
    crack_probabilities(model, images[:8], checkpoint["mean"], checkpoint["std"], resolved)  # warm-up
    started = time.perf_counter()
    p = crack_probabilities(model, images, checkpoint["mean"], checkpoint["std"], resolved)
    return p, len(images) / (time.perf_counter() - started)


def layercam(checkpoint: dict, images: torch.Tensor, precision: str) -> tuple[np.ndarray, float]:
    """LayerCAM maps of the crack class at the registry's layer, at `precision`, and the seconds taken."""
    resolved = Precision(precision)
    spec = get_spec(checkpoint["architecture"])
    explainer = CamExplainer(
        inference_model(checkpoint, resolved),
        spec.cam_layer,
        spec.mean,
        spec.std,
        "layercam",
        "crack",
        resolved,
    )
    explainer.explain(images[:2])  # warm-up, untimed
    started = time.perf_counter()
    maps = np.concatenate([explainer.explain(images[i : i + 32]).heatmaps for i in range(0, len(images), 32)])
    seconds = time.perf_counter() - started
    explainer.close()
    return maps, seconds


def main() -> None:
    params = project_parameters()["train"]
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--per-class",
        type=positive_int,
        default=400,
        help="synthetic images per class (default 400, as the default run)",
    )
    parser.add_argument(
        "--size",
        type=positive_int,
        default=params["image_size"],
        help=f"px the images are decoded at (train.image_size, {params['image_size']})",
    )
    parser.add_argument("--epochs", type=positive_int, default=None, help="default: each variant's own")
    args = parser.parse_args()
    print(
        f"{describe_cpu()}; precision auto picks bf16 for: {sorted(AUTO_BF16_USES) or 'nothing'}; "
        f"{args.per_class} images per class at {args.size} px; each side warmed up untimed first",
        flush=True,
    )
    ratio = None
    with tempfile.TemporaryDirectory() as folder:
        tensors, masks = default_data(Path(folder), args.size, args.per_class)
        test = tensors["test"]
        cracks = [i for i, label in enumerate(test.labels.tolist()) if label == 1]
        crack_masks = [masks[PurePosixPath(test.paths[i]).stem] for i in cracks]
        for name in params["variants"]:
            model_settings = params["models"][name]
            settings = variant_settings(params, model_settings)
            if args.epochs:
                settings.update(epochs=args.epochs, patience=args.epochs)
            runs = {
                precision: trained(settings, model_settings, tensors, precision) for precision in PRECISIONS
            }
            accuracy = {
                precision: float(
                    (
                        (probabilities(runs[precision][0], test.images, precision)[0] >= 0.5)
                        == test.labels.numpy()
                    ).mean()
                )
                for precision in PRECISIONS
            }
            seconds = {precision: runs[precision][1] for precision in PRECISIONS}
            ratio = ratio or seconds["fp32"] / seconds["bf16"]
            print(
                f"{name} (a) trained in fp32: test accuracy {accuracy['fp32']:.4f}, {seconds['fp32']:.1f} s; "
                f"in bf16: {accuracy['bf16']:.4f}, {seconds['bf16']:.1f} s",
                flush=True,
            )
            checkpoint = runs["fp32"][0]
            p = {precision: probabilities(checkpoint, test.images, precision) for precision in PRECISIONS}
            same = np.mean((p["fp32"][0] >= 0.5) == (p["bf16"][0] >= 0.5))
            shift = np.abs(p["fp32"][0] - p["bf16"][0]).max()
            print(
                f"{name} (b) inference of the fp32 weights: the same class for {same:.4f} of test images, "
                f"p(crack) moved by up to {shift:.4f}; {p['fp32'][1]:.0f} vs {p['bf16'][1]:.0f} images/s",
                flush=True,
            )
            cams = {
                precision: layercam(checkpoint, test.images[cracks], precision) for precision in PRECISIONS
            }
            correlation = [
                np.corrcoef(a.ravel(), b.ravel())[0, 1]
                for a, b in zip(cams["fp32"][0], cams["bf16"][0], strict=True)
            ]
            pointing = {
                precision: np.mean(
                    [
                        pointing_game(resize_heatmap(cam, mask.shape[::-1]), mask)
                        for cam, mask in zip(cams[precision][0], crack_masks, strict=True)
                    ]
                )
                for precision in PRECISIONS
            }
            print(
                f"{name} (c) LayerCAM of the fp32 weights: fp32/bf16 correlation {np.mean(correlation):.4f}, "
                f"smallest {np.min(correlation):.4f}; pointing game {pointing['fp32']:.3f} / "
                f"{pointing['bf16']:.3f}; {cams['fp32'][1]:.1f} vs {cams['bf16'][1]:.1f} s",
                flush=True,
            )
    print(f"ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
