"""Explanation throughput on 227-px images: the tutorial's way, pure inference, and the project's explainer.

For resnet18 and squeezenet1_1 (trained weights are not needed for speed), on the same images:
  (a) the tutorial's way: one pytorch-grad-cam GradCAM call per image, fp32, NCHW;
  (b) pure inference of the same model as the project infers (batch norms folded), at the precision and
      memory layout of (c): the ceiling;
  (c) the project's CamExplainer on that model: batched, parameters frozen so gradients stop at the CAM
      layer, precision "auto" (bf16 + channels_last where the CPU has it).
Prints heatmaps/s for each, c/a and c/b, and last `ratio <c/a>`: the smaller of the two models' c/a.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from shared_data import add_data_option, optional_data

from crack_pipeline.vision.data.ingested import load_resized
from crack_pipeline.vision.data.synthetic import SynthConfig, render_sample
from crack_pipeline.vision.explain.cam import CamExplainer
from crack_pipeline.vision.models.inference import fold_batch_norms, normalizer
from crack_pipeline.vision.models.precision import Precision, describe_cpu
from crack_pipeline.vision.models.registry import create_model, get_spec

SIZE = 227


def images(ozgenel: Path | None, count: int) -> torch.Tensor:
    """`count` of Özgenel's cracked patches (`ozgenel`), else as many synthetic ones."""
    if ozgenel is not None:
        paths = sorted((ozgenel / "Positive").glob("*.jpg"))[:count]
        return torch.from_numpy(np.stack([load_resized(p, SIZE) for p in paths]))
    config = SynthConfig(count_per_class=count, image_size=SIZE, seed=0)
    return torch.from_numpy(
        np.stack([render_sample(config, True, i).image.transpose(2, 0, 1) for i in range(1, count + 1)])
    )


def tutorial(name: str, data: torch.Tensor) -> float:
    spec = get_spec(name)
    model = create_model(name).eval()
    cam = GradCAM(model=model, target_layers=[model.get_submodule(spec.cam_layer)])
    normalise = normalizer(spec.mean, spec.std)
    started = time.perf_counter()
    for image in data:
        x = normalise(image[None].float() / 255)
        with torch.no_grad():
            predicted = int(model(x).argmax(1))
        cam(input_tensor=x, targets=[ClassifierOutputTarget(predicted)])
    return len(data) / (time.perf_counter() - started)


def inference(name: str, data: torch.Tensor, precision: Precision, batch: int) -> float:
    spec = get_spec(name)
    model = precision.prepare(fold_batch_norms(create_model(name).eval()))  # as the project infers
    normalise = normalizer(spec.mean, spec.std)
    started = time.perf_counter()
    with torch.no_grad():
        for start in range(0, len(data), batch):
            x = precision.batch(normalise(data[start : start + batch].float() / 255))
            with precision.autocast():
                model(x)
    return len(data) / (time.perf_counter() - started)


def project(name: str, data: torch.Tensor, precision: Precision, batch: int) -> float:
    spec = get_spec(name)
    explainer = CamExplainer(
        fold_batch_norms(create_model(name).eval()), spec.cam_layer, spec.mean, spec.std, precision=precision
    )
    started = time.perf_counter()
    for start in range(0, len(data), batch):
        explainer.explain(data[start : start + batch])
    rate = len(data) / (time.perf_counter() - started)
    explainer.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--batch", type=int, default=32)
    add_data_option(parser)
    args = parser.parse_args()
    torch.manual_seed(0)
    ozgenel = optional_data(args, "ozgenel_dev")
    data = images(ozgenel, args.images)
    precision = Precision.resolve("auto", "cam")
    print(
        f"data: {'Özgenel' if ozgenel else 'synthetic'} {len(data)} images at {SIZE} px, "
        f"precision {precision.name} ({describe_cpu()}), channels_last, batch {args.batch}"
    )
    ratios = []
    for name in ("resnet18", "squeezenet1_1"):
        a = tutorial(name, data)
        b = inference(name, data, precision, args.batch)
        c = project(name, data, precision, args.batch)
        ratios.append(c / a)
        print(
            f"{name:14s} (a) tutorial {a:7.1f}  (b) inference {b:7.1f}  (c) project {c:7.1f} heatmaps/s  "
            f"c/a {c / a:5.2f}  c/b {c / b:4.2f}"
        )
    print(f"ratio {min(ratios):.2f}")


if __name__ == "__main__":
    main()
