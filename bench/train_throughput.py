"""Training throughput: the loop a tutorial writes against the project's trainer.

squeezenet1_1 (2-class head), 227 px, batch 32, the same fixed 1,000 images and 2 epochs on both
sides, wall time including all data loading and the project's one-time tensor-cache build:
  (a) torchvision ImageFolder + DataLoader(num_workers=2) + fp32 NCHW training;
  (b) the project: decode once into uint8 tensors, batched tensor augmentation, `fit` at
      precision "auto" (fp32 channels_last; README "Precision").
Data: ../shared/data/ozgenel_dev when present, else synthetic, read once before (a) so that both sides
find the files in the page cache. Each side first runs once untimed on one batch of images for one epoch
(a warm-up), so that a process's one-time costs (first allocations, the thread pool, lazy imports, the
kernels' first calls) do not fall on (a), which runs first; figures before this warm-up
(docs/benchmarks.md) charged them to (a). Prints images/s for each and, last, `ratio <a seconds / b seconds>`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch
from arguments import positive_int
from page_cache import read_once
from shared_data import add_data_option, optional_data
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from crack_pipeline.vision.data.augment import AugmentConfig
from crack_pipeline.vision.data.labels import CLASS_NAMES
from crack_pipeline.vision.data.synthetic import SynthConfig, generate
from crack_pipeline.vision.data.tensor_cache import build_tensors
from crack_pipeline.vision.models.precision import describe_cpu
from crack_pipeline.vision.models.registry import create_model, get_spec
from crack_pipeline.vision.training.config import TrainConfig
from crack_pipeline.vision.training.loop import fit

SIZE, BATCH, EPOCHS, ARCH = 227, 32, 2, "squeezenet1_1"


def subset_folder(root: Path, per_class: int) -> Path:
    """The first `per_class` images of each class, linked into an ImageFolder layout."""
    target = Path(tempfile.mkdtemp(prefix="train_bench_"))
    for folder, label in (("Positive", "crack"), ("Negative", "no_crack")):
        (target / label).mkdir()
        for path in sorted((root / folder).glob("*.jpg"))[:per_class]:
            os.symlink(path.resolve(), target / label / path.name)
    return target


def synthetic_source(per_class: int) -> Path:
    root = Path(tempfile.mkdtemp(prefix="train_bench_synth_"))
    images, _ = generate(SynthConfig(count_per_class=per_class, image_size=SIZE, seed=0))
    for name, data in images.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def tutorial(folder: Path, epochs: int = EPOCHS) -> float:
    """(a) What the tutorials write. Returns wall seconds."""
    spec = get_spec(ARCH)
    started = time.perf_counter()
    transform = transforms.Compose(
        [
            transforms.Resize((SIZE, SIZE)),
            transforms.RandomHorizontalFlip(),
            transforms.RandomAffine(degrees=0, translate=(30 / SIZE, 30 / SIZE)),
            transforms.ToTensor(),
            transforms.Normalize(spec.mean, spec.std),
        ]
    )
    loader = DataLoader(
        datasets.ImageFolder(folder, transform=transform), batch_size=BATCH, shuffle=True, num_workers=2
    )
    torch.manual_seed(0)
    model = create_model(ARCH)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    criterion = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        for images, labels in loader:
            optimizer.zero_grad()
            loss = criterion(model(images), labels)
            loss.backward()
            optimizer.step()
    return time.perf_counter() - started


def project(folder: Path, epochs: int = EPOCHS) -> tuple[float, str]:
    """(b) The project's trainer, tensor-cache build included. Returns wall seconds and precision."""
    started = time.perf_counter()
    paths = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.jpg"))
    labels = [CLASS_NAMES.index(p.split("/")[0]) for p in paths]
    data = build_tensors([folder / p for p in paths], paths, labels, SIZE)
    val = data.subset(paths[:: max(1, len(paths) // 32)])  # the trainer validates every epoch
    torch.manual_seed(0)
    config = TrainConfig(
        epochs=epochs,
        batch_size=BATCH,
        patience=epochs,
        precision="auto",
        progress=False,
        augment=AugmentConfig(hflip=True, translate=30),
    )
    result = fit(create_model(ARCH), get_spec(ARCH), data, val, config)
    return time.perf_counter() - started, result.precision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-class", type=positive_int, default=500, help="images per class (at least 1)")
    add_data_option(parser)
    args = parser.parse_args()
    ozgenel = optional_data(args, "ozgenel_dev")
    source = ozgenel or synthetic_source(args.per_class)
    folder = subset_folder(source, args.per_class)
    warm = subset_folder(source, BATCH // 2)  # one batch: both sides' one-time costs paid before timing
    try:
        tutorial(warm, epochs=1)
        project(warm, epochs=1)
        images = 2 * args.per_class * EPOCHS
        read_once(folder.rglob("*.jpg"))  # both sides then read them from memory
        seconds_a = tutorial(folder)
        seconds_b, precision = project(folder)
    finally:
        shutil.rmtree(folder)
        shutil.rmtree(warm)
        if ozgenel is None:  # the synthetic images rendered for this run
            shutil.rmtree(source)
    print(
        f"data: {source}, {2 * args.per_class} images x {EPOCHS} epochs, {ARCH} at {SIZE} px, batch {BATCH}; "
        "each side warmed up untimed first"
    )
    print(
        f"(a) tutorial ImageFolder + DataLoader(num_workers=2), fp32 NCHW: {images / seconds_a:6.1f} img/s "
        f"({seconds_a:.1f} s)"
    )
    print(
        f"(b) project, tensor cache + fit, precision {precision} ({describe_cpu()}): "
        f"{images / seconds_b:6.1f} images/s ({seconds_b:.1f} s)"
    )
    print(f"ratio {seconds_a / seconds_b:.2f}")


if __name__ == "__main__":
    main()
