"""Adapting to a new site with few labels: how many labels, chosen how, starting from what?

On ../shared/data/sdnet_walls_dev, split by parent photo into a labelled pool (70 % of the photos) and a test
part (30 %): a model is fine-tuned (the whole network, `--steps` steps in one learning-rate cycle, however
many images) on 0, 25, 50, 100, 200 and 400 pool images whose labels it is given,
  - chosen at random, or by "label these next" (vision/transfer/active.py: the current model's most
    uncertain and mutually different pool images, in rounds from one budget to the next), or by its
    "typical" order (the typical images of 100 clusters of the model's features first, then as label_next:
    what evaluate_folder.label_next_order gives an unfamiliar folder); `--strategies` says which;
  - starting from the Özgenel champion (EfficientNet-Lite0 fine-tuned on Özgenel with conf/ozgenel's recipe;
    trained here once, or `--champion FILE` a checkpoint) or from ImageNet.
Every model scores with conf/ozgenel's test-time views (a `--champion FILE` with its own).
Each point: balanced accuracy and ROC-AUC on the test photos, at p(crack) 0.5 (the fine-tuning loss weighs
the classes equally) and, from 25 labels on and from the champion, the champion not fine-tuned at a threshold
recalibrated on the labels for recall 0.95 (vision/transfer/recalibration.py, as evaluate_folder.recalibrate
gives a site). 0 labels: the champion at its own decision threshold; ImageNet: chance.
Also: the champion with its batch norms re-estimated on the unlabelled pool (no labels at all).
Last line: `ratio <labels random needs for 0.90 / labels "label these next" needs>` (from the champion,
balanced accuracy at 0.5, linearly interpolated between budgets; "> 400" when never reached).

    .venv/bin/python bench/adaptation.py                      # about an hour on 2 cores
    .venv/bin/python bench/adaptation.py --size 128 --steps 100 --budgets 0,25,50,100
    .venv/bin/python bench/adaptation.py --champion FILE --budgets 0,50,100 --strategies label_next,typical \
        --starts champion
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
from arguments import names_among, positive_int
from champion import (
    ARCHITECTURE,
    add_champion_options,
    champion_of,
    folder_splits,
    ozgenel_recipe,
    recipe_checkpoint,
)
from fitted import bench_checkpoint
from shared_data import data_root, require_data

from crack_pipeline.vision.data.tensor_cache import ImageTensors
from crack_pipeline.vision.evaluation.evaluate import checkpoint_probabilities_and_features
from crack_pipeline.vision.evaluation.metrics import binary_metrics
from crack_pipeline.vision.models.checkpoint import model_from_checkpoint
from crack_pipeline.vision.models.inference import views_of
from crack_pipeline.vision.models.precision import describe_cpu
from crack_pipeline.vision.models.registry import create_model, get_spec
from crack_pipeline.vision.training.config import TrainConfig
from crack_pipeline.vision.training.loop import fit
from crack_pipeline.vision.transfer.active import TYPICAL, labelling_order
from crack_pipeline.vision.transfer.adaptation import reestimate_batch_norms
from crack_pipeline.vision.transfer.recalibration import recalibrate

TARGET = 0.90
STRATEGIES = ("random", "label_next", "typical")
STARTS = ("champion", "imagenet")


def few_label_recipe(recipe: TrainConfig, steps: int) -> TrainConfig:
    """`recipe` fine-tuning the whole network for `steps` optimisation steps (`min_steps`, however many
    images), in one learning-rate cycle up to the recipe's rate (1e-3), run to its end. Counted in epochs, a
    few labels got a few steps: 6 epochs of 100 images at a constant 3e-4 were 24 steps, validation loss on
    the labels rose from the head stage's, and early stopping kept the head stage's model (100 random SDNET
    labels, 3 draws: balanced accuracy 0.588 on average, against 0.668 with 200 steps in one cycle; the
    steps, the rate and the cycle were changed together)."""
    return dataclasses.replace(
        recipe, epochs=1, min_steps=steps, schedule="onecycle", warmup=0.1, freeze_backbone_epochs=0
    )


def fine_tune(
    start: dict | None,
    labelled: ImageTensors,
    recipe: TrainConfig,
    steps: int,
    val: ImageTensors | None = None,
) -> dict:
    """`start` (None: ImageNet's weights) fine-tuned on `labelled` by `few_label_recipe`, validated on `val`
    (the labels themselves, without one)."""
    model = model_from_checkpoint(start).train() if start else create_model(ARCHITECTURE, pretrained=True)
    config = few_label_recipe(recipe, steps)
    torch.manual_seed(config.seed)
    val = labelled if val is None else val
    result = fit(model, get_spec(ARCHITECTURE), labelled, val, config, pretrained=True)
    return recipe_checkpoint(result, labelled.images.shape[-1])


def sdnet_pool_and_test(data: Path, size: int) -> tuple[ImageTensors, ImageTensors]:
    """SDNET's wall patches (`data`/sdnet_walls_dev) split by photo into a labelled pool (70 % of the photos)
    and a test part."""
    ratios = {"train": 0.7, "val": 0.0, "test": 0.3}
    sdnet = folder_splits("sdnet_walls", data / "sdnet_walls_dev", r"^(\d+)-", ratios, size)
    return sdnet["train"], sdnet["test"]


def scores(checkpoint: dict, test: ImageTensors, threshold: float) -> dict[str, float]:
    p, _ = checkpoint_probabilities_and_features(checkpoint, test)
    m = binary_metrics(test.labels.numpy(), p, threshold)
    return {"balanced_accuracy": m["balanced_accuracy"], "roc_auc": m["roc_auc"], "recall": m["recall"]}


def curve(
    start: dict | None,
    strategy: str,
    pool: ImageTensors,
    test: ImageTensors,
    budgets: list[int],
    recipe: TrainConfig,
    steps: int,
    seed: int,
) -> list[dict]:
    """One learning curve: labels added in rounds (nested sets), fine-tuned from `start` at each budget."""
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    model = start
    points = []
    for budget in budgets:
        if budget == 0:
            if start is None:
                points.append({"labels": 0, "balanced_accuracy": 0.5, "roc_auc": 0.5, "recalibrated": None})
            else:
                points.append(
                    {"labels": 0, **scores(start, test, start["threshold"]["value"]), "recalibrated": None}
                )
            continue
        remaining = np.setdiff1d(np.arange(len(pool)), chosen)
        extra = budget - len(chosen)
        if strategy == "random" or model is None:
            picks = rng.choice(remaining, size=extra, replace=False)
        else:
            p, features = checkpoint_probabilities_and_features(
                model, pool.subset([pool.paths[i] for i in remaining])
            )
            threshold = model.get("threshold", {}).get("value", 0.5)
            typical = TYPICAL if strategy == "typical" else 0
            picks = remaining[labelling_order(p, features, threshold, typical=typical)[:extra]]
        chosen += [int(i) for i in picks]
        labelled = pool.subset([pool.paths[i] for i in chosen])
        if len(np.unique(labelled.labels.numpy())) < 2:
            points.append(
                {"labels": budget, "balanced_accuracy": None, "roc_auc": None, "recalibrated": None}
            )
            continue
        model = fine_tune(start, labelled, recipe, steps)
        model["threshold"] = {"value": 0.5}
        point = {"labels": budget, **scores(model, test, 0.5), "recalibrated": None}
        if start is not None:
            # The starting model, not fine-tuned, at a threshold chosen on the labels (what
            # evaluate_folder.recalibrate gives a site): chosen on the fine-tuned model's p(crack) of the
            # very images it learned from, the threshold was biased.
            p_labelled, _ = checkpoint_probabilities_and_features(start, labelled)
            site = recalibrate(labelled.labels.numpy(), p_labelled, 0.95)
            point["recalibrated"] = scores(start, test, site["value"])["balanced_accuracy"]
        points.append(point)
    return points


def rounded(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"


def labels_needed(points: list[dict], target: float) -> float | None:
    previous = None
    for point in points:
        value = point["balanced_accuracy"]
        if value is not None and value >= target:
            if previous is None or previous["balanced_accuracy"] is None:
                return float(point["labels"])
            low, high = previous["balanced_accuracy"], value
            return previous["labels"] + (target - low) / (high - low) * (point["labels"] - previous["labels"])
        previous = point
    return None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budgets", default="0,25,50,100,200,400")
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--steps", type=positive_int, default=200, help="fine-tuning steps, in one cycle")
    add_champion_options(parser)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strategies", type=names_among(STRATEGIES), default=STRATEGIES[:2])
    parser.add_argument("--starts", type=names_among(STARTS), default=STARTS)
    args = parser.parse_args()
    require_data(data_root(args), "sdnet_walls_dev", *([] if args.champion else ["ozgenel_dev"]))
    budgets = [int(b) for b in args.budgets.split(",")]
    start = champion_of(args, args.size)
    # A champion given by file is fine-tuned and scored at the size it was trained at (else a ValueError
    # once SDNET was decoded at --size).
    args.size = start["input_size"]
    print(f"{describe_cpu()}; precision fp32 (auto); {args.size} px; budgets {budgets}", flush=True)
    pool, test = sdnet_pool_and_test(data_root(args), args.size)
    print(f"SDNET walls: pool {len(pool)} images, test {len(test)} images (split by photo)", flush=True)
    adapted = model_from_checkpoint(start)
    reestimate_batch_norms(adapted, pool.images, start["mean"], start["std"])
    adapted_checkpoint = bench_checkpoint(adapted, ARCHITECTURE, args.size)
    adapted_checkpoint["test_time_views"] = views_of(start)
    before = scores(start, test, start["threshold"]["value"])
    after = scores(adapted_checkpoint, test, start["threshold"]["value"])
    print(f"no labels: the champion {before}; with batch norms re-estimated on the pool {after}", flush=True)
    recipe = ozgenel_recipe(None)
    results = {}
    for start_name, start_model in (("champion", start), ("imagenet", None)):
        if start_name not in args.starts:
            continue
        for strategy in args.strategies:
            started = time.perf_counter()
            points = curve(start_model, strategy, pool, test, budgets, recipe, args.steps, args.seed)
            results[(start_name, strategy)] = points
            shown = ", ".join(
                f"{p['labels']}: {rounded(p['balanced_accuracy'])} (recalibrated "
                f"{rounded(p['recalibrated'])})"
                for p in points
            )
            print(
                f"from {start_name}, {strategy} ({time.perf_counter() - started:.0f} s): {shown}", flush=True
            )
    if not {("champion", "random"), ("champion", "label_next")} <= results.keys():
        return
    random_needs = labels_needed(results[("champion", "random")], TARGET)
    active_needs = labels_needed(results[("champion", "label_next")], TARGET)
    print(
        f"labels for balanced accuracy {TARGET} from the champion: random {random_needs}, "
        f"label these next {active_needs}"
    )
    if random_needs is None or active_needs is None:
        print(f"ratio undefined (> {budgets[-1]} labels for one of them)")
    elif active_needs == 0:  # both curves start at the champion: it needs no labels for either
        print(f"ratio 1.00 (the champion reaches {TARGET} with no labels)")
    else:
        print(f"ratio {random_needs / active_needs:.2f}")


if __name__ == "__main__":
    main()
