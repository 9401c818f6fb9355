"""A few labels of a new site, and the surface the model knew: does fine-tuning keep it?

From the Özgenel champion, `--labels` SDNET wall patches chosen at random from `bench/adaptation.py`'s pool
(SDNET split by photo 70 / 30), fine-tuned for `--steps` steps in one cycle (`few_label_recipe`):
  - alone: on the labels only, as `bench/adaptation.py` does;
  - with rehearsal: on the labels and Özgenel's training patches together, each epoch drawing both domains
    equally often (`balance_domains`), validated on the labels and a quarter of Özgenel's validation split
    (what `data.sources` with both folders, `balance_domains: true` and `init_from: champion` trains).
Each: balanced accuracy and ROC-AUC at p(crack) 0.5 on SDNET's test photos and on Özgenel's test split.

    .venv/bin/python bench/rehearsal.py --champion FILE --draws 0,1     # ~25 min a draw on 2 busy cores
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
from adaptation import fine_tune, scores, sdnet_pool_and_test
from arguments import positive_int
from champion import add_champion_options, champion_of, ozgenel_recipe, ozgenel_splits
from shared_data import data_root, require_data

from crack_pipeline.vision.models.precision import describe_cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--labels", type=positive_int, default=100)
    parser.add_argument("--steps", type=positive_int, default=200, help="fine-tuning steps, in one cycle")
    parser.add_argument("--draws", default="0", help="seeds of the random label draws, e.g. 0,1,2")
    parser.add_argument("--size", type=int, default=160)
    add_champion_options(parser)
    args = parser.parse_args()
    data = data_root(args)
    require_data(data, "sdnet_walls_dev", "ozgenel_dev")
    start = champion_of(args, args.size)
    size = start["input_size"]
    print(
        f"{describe_cpu()}; precision fp32 (auto); {size} px; {args.labels} labels, {args.steps} steps",
        flush=True,
    )
    pool, test = sdnet_pool_and_test(data, size)
    ozgenel = ozgenel_splits(data, size)
    recipe = ozgenel_recipe(None)
    print(f"the champion: SDNET {scores(start, test, 0.5)}, Özgenel {scores(start, ozgenel['test'], 0.5)}")
    for draw in (int(d) for d in args.draws.split(",")):
        picks = np.random.default_rng(draw).choice(len(pool), size=args.labels, replace=False)
        labelled = pool.subset([pool.paths[i] for i in picks])
        rehearsed = labelled.concat(ozgenel["train"])
        checked = labelled.concat(ozgenel["val"].subset(ozgenel["val"].paths[::4]))
        for way, (train, val, config) in {
            "alone": (labelled, None, recipe),
            "with rehearsal": (rehearsed, checked, dataclasses.replace(recipe, balance_domains=True)),
        }.items():
            started = time.perf_counter()
            checkpoint = fine_tune(start, train, config, args.steps, val)
            print(
                f"draw {draw} {way} ({time.perf_counter() - started:.0f} s): SDNET "
                f"{scores(checkpoint, test, 0.5)}, Özgenel {scores(checkpoint, ozgenel['test'], 0.5)}",
                flush=True,
            )


if __name__ == "__main__":
    main()
