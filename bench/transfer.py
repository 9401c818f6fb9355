"""How well does a crack model transfer to surfaces it never saw? A matrix of domains, measured.

The domains are those of the general recipe (conf/general: Özgenel, SDNET2018 walls, CFD tiles, synthetic),
each split by parent photo (70/15/15, seed 42). For each recipe:
  - trained on one domain, tested on every domain's test split;
  - trained on all domains but one (leave-one-domain-out), tested on the one left out.
Printed: balanced accuracy at the model's own decision threshold (recall 0.99 on its validation split, as
the pipeline chooses it) and ROC-AUC, per cell, p(crack) over the recipe's test-time views. Recipes:
  today    the real-data recipe before this bench (conf/ozgenel: EfficientNet-Lite0; domains simply pooled)
  project  the general recipe (conf/general: every domain seen equally often per epoch)
Last line: `ratio <mean leave-one-out balanced accuracy of project / of today>` (undefined unless both
recipes ran rows "all but ...").

Needs the folders of conf/general's data.sources: the real data sets (../shared/data beside the repository,
or `--data DIR`) and the CFD tiles (kedro run --pipelines=mask_tiles ..., see README). Each domain is split
70 / 15 / 15 by group (seed 42), so needs photos of each class from at least 3 groups (a domain with fewer
stops the bench, naming it and its counts). On 2 cores a cell trains in minutes: --max-train caps each
domain's training images, --size the input side.

    .venv/bin/python bench/transfer.py                                  # about 2 h on 2 cores
    .venv/bin/python bench/transfer.py --max-train 300 --epochs 2 --size 128 --recipes project
    .venv/bin/python bench/transfer.py --recipes project --architecture efficientnet_lite2 \
        --only "all but sdnet_walls"
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd
import torch
from arguments import classifier, positive_int
from champion import domain_split
from fitted import bench_checkpoint
from shared_data import add_data_option, listed_source

from crack_pipeline.config import environment_parameters
from crack_pipeline.pipelines.ingest.nodes import sources_of
from crack_pipeline.pipelines.train.variants import variant_settings
from crack_pipeline.vision.data.image_io import ImageLimits
from crack_pipeline.vision.data.labels import DEFAULT_ALIASES
from crack_pipeline.vision.data.scanning import OK
from crack_pipeline.vision.data.sources import image_keys, scan_sources
from crack_pipeline.vision.data.synthetic import SynthConfig, render_patches
from crack_pipeline.vision.data.tensor_cache import ImageTensors, decode_listed
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.evaluation.metrics import binary_metrics, threshold_for_recall
from crack_pipeline.vision.models.inference import crack_probabilities, inference_model
from crack_pipeline.vision.models.precision import Precision, describe_cpu
from crack_pipeline.vision.models.registry import create_model, get_spec
from crack_pipeline.vision.settings import settings_from
from crack_pipeline.vision.training.config import TrainConfig
from crack_pipeline.vision.training.loop import fit

RECIPES = {"today": "ozgenel", "project": "general"}  # recipe -> the environment that holds it


def recipe_names(text: str) -> list[str]:
    """An argparse type: comma-separated recipes, each one of RECIPES (else a KeyError after the decoding)."""
    names = text.split(",")
    unknown = [name for name in names if name not in RECIPES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown)}; known: {', '.join(RECIPES)}")
    return names


def recipe_config(env: str, epochs: int | None, architecture: str | None) -> tuple[str, TrainConfig, int]:
    """The recipe's architecture (or `architecture`: same recipe, another model size), settings and
    test-time views."""
    train = environment_parameters(env)["train"]
    (variant,) = train["variants"]
    values = variant_settings(train, train["models"][variant])
    values.update(progress=False, **({"epochs": epochs} if epochs is not None else {}))
    chosen = architecture or train["models"][variant]["architecture"]
    return chosen, settings_from(TrainConfig, values, env), train.get("test_time_views", 1)


def domain_splits(
    args: argparse.Namespace, max_train: int, size: int, synthetic_per_class: int
) -> dict[str, dict[str, ImageTensors]]:
    """{domain: {train, val, test}} decoded at `size`, split by group; the synthetic domain rendered. The
    real domains are conf/general's data.sources, read from `--data` (`listed_source`)."""
    data = environment_parameters("general")["data"]
    listed = [
        {**s, "path": str(listed_source(s["path"], args))}
        for s in data["sources"]
        if s["domain"] != "synthetic"
    ]
    where = {s["domain"]: s["path"] for s in listed}
    sources = sources_of(None, {"sources": listed}, None)
    index = scan_sources(sources, DEFAULT_ALIASES, ImageLimits()).index
    index = index[index.status == OK].sort_values(["domain", "path"]).reset_index(drop=True)
    splits = {}
    for domain, rows in index.groupby("domain", sort=False):
        rows = rows.assign(
            split=domain_split(
                domain,
                rows,
                {"train": 0.7, "val": 0.15, "test": 0.15},
                f"{where[domain]}, conf/general's data.sources",
            )
        )
        decoded = decode_listed(rows, size)
        by_split = {}
        for split, part in rows.groupby("split"):
            keys = image_keys(part)
            if split == "train" and len(keys) > max_train:
                keys = [keys[i] for i in np.linspace(0, len(keys) - 1, max_train).round().astype(int)]
            by_split[split] = decoded.subset(keys)
        splits[domain] = by_split
    if synthetic_per_class:
        for split, count, seed in (("train", synthetic_per_class, 1), ("val", 60, 2), ("test", 60, 3)):
            names, pixels, labels = render_patches(SynthConfig(count_per_class=count, seed=seed), size)
            splits.setdefault("synthetic", {})[split] = ImageTensors(
                torch.from_numpy(pixels), torch.from_numpy(labels), [f"synthetic/{n}" for n in names]
            )
    return splits


def pooled(parts: list[ImageTensors]) -> ImageTensors:
    total = parts[0]
    for part in parts[1:]:
        total = total.concat(part)
    return total


def train_and_score(
    architecture: str,
    config: TrainConfig,
    train: ImageTensors,
    val: ImageTensors,
    tests: dict[str, ImageTensors],
    views: int = 1,
) -> tuple[dict[str, dict], float]:
    spec = get_spec(architecture)
    torch.manual_seed(config.seed)
    started = time.perf_counter()
    result = fit(create_model(architecture, pretrained=True), spec, train, val, config, pretrained=True)
    checkpoint = bench_checkpoint(result.model, architecture, train.images.shape[-1], result)
    precision = Precision.resolve("auto", "inference")
    model = inference_model(checkpoint, precision)

    def probabilities(data: ImageTensors) -> np.ndarray:
        return crack_probabilities(model, data.images, spec.mean, spec.std, precision, views=views)

    threshold = threshold_for_recall(val.labels.numpy(), probabilities(val), 0.99)
    scores = {}
    for domain, test in tests.items():
        m = binary_metrics(test.labels.numpy(), probabilities(test), threshold)
        scores[domain] = {"balanced_accuracy": m["balanced_accuracy"], "roc_auc": m["roc_auc"], "n": m["n"]}
    return scores, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--recipes",
        type=recipe_names,
        default="today,project",
        help=f"comma-separated, of {', '.join(RECIPES)}",
    )
    parser.add_argument(
        "--max-train", type=positive_int, default=1000, help="training images per domain, at most"
    )
    parser.add_argument("--synthetic-per-class", type=positive_int, default=300)
    parser.add_argument("--epochs", type=positive_int, default=None, help="default: each recipe's own")
    parser.add_argument("--size", type=positive_int, default=160)
    parser.add_argument(
        "--architecture", type=classifier, default=None, help="e.g. efficientnet_lite2; default: the recipe's"
    )
    parser.add_argument(
        "--only", default=None, help="train only these rows (comma-separated), e.g. 'all but sdnet_walls'"
    )
    parser.add_argument("--out", default=None, help="also write every cell as JSON lines here")
    add_data_option(parser)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(
        f"{describe_cpu()}; precision fp32 (auto); {args.size} px; at most {args.max_train} training images "
        f"per domain",
        flush=True,
    )
    try:
        splits = domain_splits(args, args.max_train, args.size, args.synthetic_per_class)
    except InputError as error:  # a data set of conf/general absent: no traceback, what is missing
        raise SystemExit(
            f"{error} (this bench reads conf/general's data.sources: the real data sets from --data DIR "
            "(default: ../shared/data beside the repository), the CFD tiles made by mask_tiles: see --help)"
        ) from None
    domains = list(splits)
    print(
        "domains: "
        + ", ".join(f"{d} (train {len(s['train'])}, test {len(s['test'])})" for d, s in splits.items())
    )
    tests = {d: splits[d]["test"] for d in domains}
    rows_there_are = domains + [f"all but {d}" for d in domains]
    if args.only and (unknown := set(args.only.split(",")) - set(rows_there_are)):
        parser.error(f"--only: no row {', '.join(sorted(unknown))}; the rows: {', '.join(rows_there_are)}")
    left_out_means = {}
    for recipe in args.recipes:
        architecture, config, views = recipe_config(RECIPES[recipe], args.epochs, args.architecture)
        rows = []
        cells = [(d, [d]) for d in domains] + [
            (f"all but {d}", [o for o in domains if o != d]) for d in domains
        ]
        for name, trained_on in cells:
            if args.only and name not in args.only.split(","):
                continue
            train = pooled([splits[d]["train"] for d in trained_on])
            val = pooled([splits[d]["val"] for d in trained_on])
            scores, seconds = train_and_score(architecture, config, train, val, tests, views)
            rows.append(
                {
                    "recipe": recipe,
                    "trained_on": name,
                    "seconds": round(seconds),
                    **{f"{d} {k}": scores[d][k] for d in domains for k in ("balanced_accuracy", "roc_auc")},
                }
            )
            print(
                f"{recipe}: trained on {name} in {seconds:.0f} s: "
                + ", ".join(
                    f"{d} {scores[d]['balanced_accuracy']:.3f}/{scores[d]['roc_auc']:.3f}" for d in domains
                ),
                flush=True,
            )
            if args.out:
                with open(args.out, "a") as out:
                    out.write(json.dumps(rows[-1]) + "\n")
        if not rows:
            continue
        table = pd.DataFrame(rows).set_index("trained_on")
        print(
            f"\n{recipe}: balanced accuracy at the model's threshold / ROC-AUC; rows: trained on, "
            "columns: tested on"
        )
        print(
            pd.DataFrame(
                {
                    d: [
                        f"{a:.3f} / {u:.3f}"
                        for a, u in zip(table[f"{d} balanced_accuracy"], table[f"{d} roc_auc"], strict=True)
                    ]
                    for d in domains
                },
                index=table.index,
            ).to_string()
        )
        left_out = [d for d in domains if f"all but {d}" in table.index]
        if not left_out:
            continue
        left_out_means[recipe] = float(
            np.mean([table.loc[f"all but {d}", f"{d} balanced_accuracy"] for d in left_out])
        )
        # The ranking apart from the threshold: a threshold chosen on other domains' photos can sit far
        # from where a new domain's classes part.
        auc = float(np.mean([table.loc[f"all but {d}", f"{d} roc_auc"] for d in left_out]))
        print(
            f"{recipe}: mean leave-one-domain-out balanced accuracy {left_out_means[recipe]:.4f}, "
            f"ROC-AUC {auc:.4f} ({len(left_out)} domains left out)\n",
            flush=True,
        )
    if {"today", "project"} <= set(left_out_means):
        print(f"ratio {left_out_means['project'] / left_out_means['today']:.3f}")
    else:  # the last line is a ratio, even where this run has no two sides to divide
        print("ratio undefined (needs leave-one-domain-out rows of both recipes, today and project)")


if __name__ == "__main__":
    main()
