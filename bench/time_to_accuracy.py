"""How long until a model this good: seconds from the first file read to the first epoch whose test accuracy
reaches the target (0.995), all data loading and one-time caches included, on `../shared/data/ozgenel_dev`.

Both sides get the same seeded split (2,800 training, 600 test images; the project's trainer also gets 600
validation images it needs for its own early stopping, which the tutorial recipe does without), its files
read once before either is timed (so that both find them in the page cache), and are scored on the test
images after every epoch:
  (a) the tutorial recipe: torchvision `ImageFolder` + `DataLoader(num_workers=2)` + fp32, EfficientNet-Lite0
      with the same ImageNet weights at 224 px, Adam, the MATLAB demo's flip and +-30 px translation;
  (b) the project's trainer (`fit`) with its real-data recipe (conf/base + conf/ozgenel: 224 px, AdamW, the
      photometric augmentations), the images decoded once into its tensor cache.
Prints each side's seconds, epochs and the precision it trained in (the tutorial's: its weights' dtype, no
autocast; the project's: what `fit` resolved its recipe's `precision` to on this CPU) and, last,
`ratio <a seconds / b seconds>`.

    .venv/bin/python bench/time_to_accuracy.py                # ~30-60 min on 2 cores
    .venv/bin/python bench/time_to_accuracy.py --train 400 --test 200 --max-epochs 2 --target 0.9  # smoke
    .venv/bin/python bench/time_to_accuracy.py --project-only --full --head-passes 0  # without the head stage
"""

from __future__ import annotations

import argparse
import copy
import os
import random
import tempfile
import time
from pathlib import Path

import torch
import yaml
from page_cache import read_once
from shared_data import add_data_option, data_root, require_data
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from crack_pipeline.vision.data.labels import CLASS_NAMES
from crack_pipeline.vision.data.tensor_cache import build_tensors
from crack_pipeline.vision.models.inference import fold_batch_norms, predict_logits
from crack_pipeline.vision.models.precision import Precision, describe_cpu
from crack_pipeline.vision.models.registry import get_spec
from crack_pipeline.vision.settings import settings_from
from crack_pipeline.vision.training.config import TrainConfig
from crack_pipeline.vision.training.loop import fit

PROJECT = Path(__file__).resolve().parents[1]
ARCHITECTURE = "efficientnet_lite0"
SIZE = 224


def seeded_split(ozgenel: Path, counts: tuple[int, int, int], seed: int) -> dict[str, list[tuple[Path, str]]]:
    """(file, class folder) of each split of `ozgenel`, each class in equal shares, by a seeded shuffle."""
    parts: dict[str, list[tuple[Path, str]]] = {"train": [], "val": [], "test": []}
    for folder in ("Positive", "Negative"):
        files = sorted((ozgenel / folder).iterdir())
        random.Random(seed).shuffle(files)
        start = 0
        for name, count in zip(parts, counts, strict=True):
            parts[name] += [(file, folder) for file in files[start : start + count // 2]]
            start += count // 2
    return parts


def dtype_name(model: nn.Module) -> str:
    """The precision a model without autocast trains in: its weights' dtype."""
    return {torch.float32: "fp32", torch.bfloat16: "bf16"}.get(next(model.parameters()).dtype, "other")


def tutorial(split, target: float, max_epochs: int, scratch: Path) -> tuple[float, int, float, str]:
    """(a): seconds to the target, epochs, the last test accuracy and the precision it trained in."""
    started = time.perf_counter()
    for name in ("train", "test"):  # ImageFolder's layout: one folder per class
        for file, folder in split[name]:
            link = scratch / name / folder / file.name
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(file)
    spec = get_spec(ARCHITECTURE)
    normalise = transforms.Normalize(spec.mean, spec.std)
    shift = 30 / SIZE
    augmented = transforms.Compose(
        [
            transforms.Resize((SIZE, SIZE)),
            transforms.RandomHorizontalFlip(),
            transforms.RandomAffine(0, translate=(shift, shift)),
            transforms.ToTensor(),
            normalise,
        ]
    )
    plain = transforms.Compose([transforms.Resize((SIZE, SIZE)), transforms.ToTensor(), normalise])
    train = DataLoader(
        datasets.ImageFolder(scratch / "train", augmented), batch_size=32, shuffle=True, num_workers=2
    )
    test = DataLoader(datasets.ImageFolder(scratch / "test", plain), batch_size=64, num_workers=2)
    torch.manual_seed(0)
    model = spec.build(2, True, None)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()
    accuracy = 0.0
    for epoch in range(1, max_epochs + 1):
        model.train()
        for images, labels in train:
            optimizer.zero_grad()
            criterion(model(images), labels).backward()
            optimizer.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for images, labels in test:
                correct += int((model(images).argmax(1) == labels).sum())
        accuracy = correct / len(test.dataset)
        print(
            f"  tutorial epoch {epoch}: test accuracy {accuracy:.4f} at {time.perf_counter() - started:.0f} s"
        )
        if accuracy >= target:
            return time.perf_counter() - started, epoch, accuracy, dtype_name(model)
    return time.perf_counter() - started, max_epochs, accuracy, dtype_name(model)


def recipe() -> dict:
    """The real-data recipe: conf/base's training defaults under conf/ozgenel's variant settings."""
    base = yaml.safe_load((PROJECT / "conf/base/parameters_train.yml").read_text())["train"]
    ozgenel = yaml.safe_load((PROJECT / "conf/ozgenel/parameters_train.yml").read_text())["train"]
    return {**base["defaults"], **ozgenel["models"][ARCHITECTURE]["training"], "progress": False}


def project(
    split, target: float, max_epochs: int, full: bool, head_passes: int | None = None
) -> tuple[float, int, float, str]:
    """(b): seconds to the target, epochs, the test accuracy then and the precision `fit` trained in; with
    `full`, training goes on to the recipe's last epoch, printing the test accuracy of each and of the
    weights the recipe keeps (does it keep what it reached?). `head_passes` overrides the recipe's (0: no
    head stage, to compare)."""
    started = time.perf_counter()
    tensors = {
        name: build_tensors(
            [file for file, _ in files],
            [f"{folder}/{file.name}" for file, folder in files],
            [CLASS_NAMES.index("crack" if folder == "Positive" else "no_crack") for _, folder in files],
            SIZE,
        )
        for name, files in split.items()
    }
    spec = get_spec(ARCHITECTURE)
    settings = recipe() if full else {**recipe(), "epochs": max_epochs, "patience": max_epochs}
    if head_passes is not None:
        settings["head_passes"] = head_passes
    config = settings_from(TrainConfig, settings, "train")
    torch.manual_seed(config.seed)
    reached: dict[str, float] = {}

    def test_accuracy(model: nn.Module) -> float:
        # Scored as the project infers (evaluate, explain): batch norms folded, into a copy.
        folded = fold_batch_norms(copy.deepcopy(model).eval())
        logits = predict_logits(folded, tensors["test"].images, spec.mean, spec.std, Precision("fp32"))
        return float((logits.argmax(1) == tensors["test"].labels).float().mean())

    def scored(model: nn.Module, epoch: int) -> bool:
        accuracy = test_accuracy(model)
        seconds = time.perf_counter() - started
        print(f"  project epoch {epoch}: test accuracy {accuracy:.4f} at {seconds:.0f} s", flush=True)
        if reached.get("accuracy", 0.0) < target:  # the first epoch at the target stops the clock
            reached.update(epoch=epoch, accuracy=accuracy, seconds=seconds)
        return accuracy >= target and not full

    result = fit(
        spec.build(2, True, None),
        spec,
        tensors["train"],
        tensors["val"],
        config,
        pretrained=True,
        after_epoch=scored,
    )
    if full:
        print(
            f"  project kept epoch {result.best_epoch} (best validation loss): test accuracy "
            f"{test_accuracy(result.model):.4f}",
            flush=True,
        )
    return reached["seconds"], int(reached["epoch"]), reached["accuracy"], result.precision


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", type=int, default=2800)
    parser.add_argument("--test", type=int, default=600)
    parser.add_argument("--target", type=float, default=0.995)
    parser.add_argument("--max-epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--full", action="store_true", help="the project's recipe on to its last epoch")
    parser.add_argument("--project-only", action="store_true", help="the project's side alone (no ratio)")
    parser.add_argument(
        "--head-passes", type=int, help="override the recipe's head_passes (0: no head stage)"
    )
    add_data_option(parser)
    args = parser.parse_args()
    (ozgenel,) = require_data(data_root(args), "ozgenel_dev")
    split = seeded_split(ozgenel, (args.train, args.test, args.test), args.seed)
    read_once(file for files in split.values() for file, _ in files)  # both sides then read from memory
    print(
        f"{ARCHITECTURE} at {SIZE} px, {len(split['train'])} training and {len(split['test'])} test images, "
        f"target test accuracy {args.target} (scored in fp32); {os.cpu_count()} cores, {describe_cpu()}",
        flush=True,
    )
    if args.project_only:
        fast = project(split, args.target, args.max_epochs, args.full, args.head_passes)
        print(
            f"project: {fast[0]:.0f} s, {fast[1]} epochs, test accuracy {fast[2]:.4f}, trained in {fast[3]}",
            flush=True,
        )
        return
    with tempfile.TemporaryDirectory() as scratch:
        slow = tutorial(split, args.target, args.max_epochs, Path(scratch))
    print(
        f"tutorial: {slow[0]:.0f} s, {slow[1]} epochs, test accuracy {slow[2]:.4f}, trained in {slow[3]}",
        flush=True,
    )
    fast = project(split, args.target, args.max_epochs, args.full, args.head_passes)
    print(
        f"project: {fast[0]:.0f} s, {fast[1]} epochs, test accuracy {fast[2]:.4f}, trained in {fast[3]}",
        flush=True,
    )
    missed = [name for name, side in (("tutorial", slow), ("project", fast)) if side[2] < args.target]
    if missed:
        print(
            f"not reached in {args.max_epochs} epochs by: {', '.join(missed)} (their times are upper bounds)"
        )
    print(f"ratio {slow[0] / fast[0]:.2f}")


if __name__ == "__main__":
    main()
