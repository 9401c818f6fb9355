"""What averaging p(crack) over an image's mirrored and turned views (`train.test_time_views`) buys and costs.

The Özgenel champion (EfficientNet-Lite0 fine-tuned on ../shared/data/ozgenel_dev with conf/ozgenel's recipe,
trained here once or `--champion FILE`) is given 1, 2, 4 and 8 views as training gives them: its decision
threshold chosen on Özgenel's validation split for recall 0.99 with those views, as the pipeline does.
Printed per view count: Özgenel test balanced accuracy at that threshold and at 0.5, ROC-AUC, mistakes at
the threshold, SDNET2018 walls' (../shared/data/sdnet_walls_dev, never trained on) balanced accuracy and
ROC-AUC, and images per second. Last: `ratio <Özgenel test mistakes with 1 view / with 4 views>` (1.00 for
none with either, undefined for none with 4 views only).

    .venv/bin/python bench/test_time_views.py --champion champion.pt      # about 4 min on 2 cores
"""

from __future__ import annotations

import argparse
import time

from champion import add_champion_options, champion_of, folder_splits, ozgenel_splits
from shared_data import data_root, require_data

from crack_pipeline.vision.evaluation.evaluate import checkpoint_probabilities
from crack_pipeline.vision.evaluation.metrics import binary_metrics, threshold_on_validation
from crack_pipeline.vision.models.inference import VIEW_COUNTS
from crack_pipeline.vision.models.precision import Precision, describe_cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=224, help="the champion's input side")
    parser.add_argument("--precision", default="fp32", help="fp32 | bf16 | auto")
    add_champion_options(parser)
    args = parser.parse_args()
    data = data_root(args)
    _, sdnet_walls = require_data(data, "ozgenel_dev", "sdnet_walls_dev")
    print(f"{describe_cpu()}; precision {Precision.resolve(args.precision, 'inference').name}", flush=True)
    checkpoint = champion_of(args, args.size)
    size = checkpoint["input_size"]
    ozgenel = ozgenel_splits(data, size)
    halves = {"train": 0.5, "test": 0.5}  # all of SDNET, in two parts: the champion never saw it
    walls = folder_splits("sdnet_walls", sdnet_walls, r"^(\d+)-", halves, size)
    sdnet = walls["train"].concat(walls["test"])
    y_val, y_test, y_sdnet = (data.labels.numpy() for data in (ozgenel["val"], ozgenel["test"], sdnet))
    mistakes = {}
    for views in VIEW_COUNTS:
        model = {**checkpoint, "test_time_views": views}
        started = time.perf_counter()
        p_val, p_test, p_sdnet = (
            checkpoint_probabilities(model, data, args.precision)
            for data in (ozgenel["val"], ozgenel["test"], sdnet)
        )
        rate = (len(y_val) + len(y_test) + len(y_sdnet)) / (time.perf_counter() - started)
        threshold = threshold_on_validation(y_val, p_val, 0.99)["value"]
        test, half = binary_metrics(y_test, p_test, threshold), binary_metrics(y_test, p_test, 0.5)
        walls_scores = binary_metrics(y_sdnet, p_sdnet, threshold)
        mistakes[views] = test["fp"] + test["fn"]
        print(
            f"views={views}: threshold {threshold:.4f}; ozgenel test n={test['n']} "
            f"balanced_accuracy={test['balanced_accuracy']:.4f} (at 0.5 {half['balanced_accuracy']:.4f}) "
            f"recall={test['recall']:.4f} roc_auc={test['roc_auc']:.5f} mistakes={mistakes[views]}; "
            f"sdnet walls n={walls_scores['n']} balanced_accuracy={walls_scores['balanced_accuracy']:.4f} "
            f"roc_auc={walls_scores['roc_auc']:.4f}; {rate:.1f} images/s",
            flush=True,
        )
    print(ratio_of_mistakes(mistakes[1], mistakes[4]))


def ratio_of_mistakes(one_view: int, four_views: int) -> str:
    """The last line; with no mistakes with 4 views the quotient has no value (it was 0.00 for 0 against 0,
    which reads as 1 view better, and the mistakes with 1 view for some against 0)."""
    if four_views:
        return f"ratio {one_view / four_views:.2f}"
    if not one_view:
        return "ratio 1.00 (no mistakes with 1 view nor with 4)"
    return f"ratio undefined ({one_view} mistakes with 1 view, none with 4)"


if __name__ == "__main__":
    main()
