"""Suspect labels of a data set, by cross-validation over parent photos.

Each of `--folds` folds of ../shared/data/sdnet_walls_dev (grouped by photo: the number before the dash) is
scored by EfficientNet-Lite0 (ImageNet weights, conf/ozgenel's recipe) fine-tuned on the other folds, its
best epoch chosen on them too (vision/transfer/label_noise.py, `out_of_fold_probabilities`); an image
whose given label its out-of-fold p(crack) contradicts with at least `--confidence` is a suspect
(vision/transfer/label_noise.py). Prints the suspects (most contradicted first) and writes them as CSV.
Last line: `ratio <out-of-fold ROC-AUC without the suspects / with them>`: how much they weigh on a score.

    .venv/bin/python bench/label_noise.py                 # about 30 min on 2 cores
    .venv/bin/python bench/label_noise.py --size 128 --epochs 2 --out suspects.csv
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch
from champion import ARCHITECTURE, ozgenel_recipe
from fitted import bench_checkpoint
from shared_data import add_data_option, data_root, require_data
from sklearn.metrics import roc_auc_score

from crack_pipeline.pipelines.ingest.nodes import sources_of
from crack_pipeline.vision.data.labels import DEFAULT_ALIASES
from crack_pipeline.vision.data.scanning import OK
from crack_pipeline.vision.data.sources import image_keys, scan_sources
from crack_pipeline.vision.data.tensor_cache import ImageTensors, decode_listed
from crack_pipeline.vision.evaluation.evaluate import checkpoint_probabilities_and_features
from crack_pipeline.vision.models.precision import describe_cpu
from crack_pipeline.vision.models.registry import create_model, get_spec
from crack_pipeline.vision.training.loop import fit
from crack_pipeline.vision.transfer.label_noise import (
    group_folds,
    out_of_fold_probabilities,
    suspect_labels,
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--confidence", type=float, default=0.9)
    parser.add_argument("--out", default="sdnet_walls_suspect_labels.csv")
    add_data_option(parser)
    args = parser.parse_args()
    (folder,) = require_data(data_root(args), "sdnet_walls_dev")
    print(f"{describe_cpu()}; precision fp32 (auto); {args.size} px; {args.folds} folds by photo", flush=True)
    sources = sources_of(None, {"sources": [{"domain": "sdnet_walls", "path": str(folder)}]}, r"^(\d+)-")
    index = scan_sources(sources, DEFAULT_ALIASES).index
    rows = index[index.status == OK].sort_values("path").reset_index(drop=True)
    data = decode_listed(rows, args.size)
    group_of = dict(zip(image_keys(rows), rows.group, strict=True))
    groups = [group_of[key] for key in data.paths]
    folds = group_folds(groups, args.folds, seed=0)
    config = dataclasses.replace(ozgenel_recipe(args.epochs), patience=args.epochs)

    def fit_and_score(fitted_on: ImageTensors, scored: ImageTensors) -> np.ndarray:
        started = time.perf_counter()
        torch.manual_seed(config.seed)
        model = create_model(ARCHITECTURE, pretrained=True)
        # Its epoch chosen on the images it learns from: the scored fold's labels are the ones judged.
        result = fit(model, get_spec(ARCHITECTURE), fitted_on, fitted_on, config, pretrained=True)
        checkpoint = bench_checkpoint(result.model, ARCHITECTURE, args.size, result)
        p, _ = checkpoint_probabilities_and_features(checkpoint, scored)
        photos = len({group_of[key] for key in scored.paths})
        auc = roc_auc_score(scored.labels.numpy(), p)
        print(
            f"fold: {len(scored)} images of {photos} photos, ROC-AUC {auc:.4f}, "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
        return p

    probability = out_of_fold_probabilities(data, folds, fit_and_score)
    keys, labels = data.paths, data.labels.numpy()
    suspects = suspect_labels(keys, labels, probability, args.confidence)
    suspects.to_csv(args.out, index=False)
    print(
        f"{len(suspects)} suspect labels of {len(rows)} ({len(suspects) / len(rows):.1%}): "
        f"{(suspects.given_label == 1).sum()} given crack, {(suspects.given_label == 0).sum()} given clean; "
        f"written to {args.out}"
    )
    print(suspects.head(20).to_string(index=False))
    clean = ~np.isin(keys, suspects.name)
    with_all, without = roc_auc_score(labels, probability), roc_auc_score(labels[clean], probability[clean])
    print(f"out-of-fold ROC-AUC {with_all:.4f} with the suspects, {without:.4f} without")
    print(f"ratio {without / with_all:.3f}")


if __name__ == "__main__":
    main()
