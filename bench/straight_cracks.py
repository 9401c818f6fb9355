"""Straight cracks are cracks: does a trained run call them, and does it still call a joint alone clean?

Needs a trained run (`make run`): a classifier of the latest run (`--variant`, small_cnn by default) and the
latest crack segmenter (or `--segmenter FILE`). On `--surfaces` generated concrete surfaces (render_photo:
texture and pores), drawn here, not by the synthetic data set's generator: a crack `--length` px long
through the middle, 2-3 px wide and 40-60 % dark, straight and horizontal, with 0.5 px and 1.5 px of smooth
sideways wander, straight and vertical, straight at 30 degrees; and, on the same surfaces, a formwork joint
alone (edge to edge, one width of 1.5-6 px, 25-60 % dark, within 5 degrees of horizontal or vertical, as the
synthetic clean patches carry them). Printed per case: p(crack) range, called by the classifier (at its
threshold), by the segmenter over the whole patch (explain's `segmenter_finds`, asked whatever the
classifier says) and by either. Last line: `ratio <straight horizontal and vertical cracks called / those at
30 degrees>`.

    .venv/bin/python bench/straight_cracks.py                      # about 1 min on 2 cores
    .venv/bin/python bench/straight_cracks.py --variant efficientnet_lite0 --surfaces 24
    .venv/bin/python bench/straight_cracks.py --segmenter segmenter.pt     # another crack segmenter
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import numpy as np
from arguments import positive_int, ratio_line
from PIL import Image, ImageDraw
from scipy import ndimage
from trained_run import latest_checkpoint, segmenter_of

from crack_pipeline.vision.data.folder import ImageRef
from crack_pipeline.vision.data.synthetic import SynthConfig, joint_darkening, render_photo
from crack_pipeline.vision.explain.crack_masks import CrackMaskConfig
from crack_pipeline.vision.explain.crack_segmenter import load_segmenter
from crack_pipeline.vision.explain.photos import classify_photos
from crack_pipeline.vision.explain.segmenter_calls import segmenter_finding
from crack_pipeline.vision.explain.tiling import TilingConfig
from crack_pipeline.vision.models.checkpoint import decision_threshold
from crack_pipeline.vision.models.precision import describe_cpu

SIZE = 227  # the synthetic patches' side: one tile
SUPERSAMPLE = 3
# name: (angle in degrees, sideways wander in px); None: a joint alone
CASES = {
    "straight horizontal": (0, 0.0),
    "horizontal, 0.5 px wander": (0, 0.5),
    "horizontal, 1.5 px wander": (0, 1.5),
    "straight vertical": (90, 0.0),
    "straight at 30 degrees": (30, 0.0),
    "joint alone": None,
}
AXIS_ALIGNED, OBLIQUE = ("straight horizontal", "straight vertical"), "straight at 30 degrees"


def crack_coverage(rng: np.random.Generator, angle: float, wander: float, length: int) -> np.ndarray:
    """Coverage in [0, 1] of a crack through the middle: discs 2-3 px wide (varying smoothly) along a line
    at `angle` degrees, `wander` px of smooth sideways wander (its spread) off it."""
    steps = length * 4
    along = np.linspace(-length / 2, length / 2, steps)
    drift = ndimage.gaussian_filter1d(rng.normal(0, 1, steps), 12)
    side = wander * drift / (drift.std() + 1e-8)
    widths = ndimage.gaussian_filter1d(rng.uniform(2, 3, steps), 3)
    a = math.radians(angle)
    xs = SIZE / 2 + along * math.cos(a) + side * math.sin(a)
    ys = SIZE / 2 - along * math.sin(a) + side * math.cos(a)
    canvas = Image.new("L", (SIZE * SUPERSAMPLE,) * 2, 0)
    draw = ImageDraw.Draw(canvas)
    for x, y, width in zip(xs * SUPERSAMPLE, ys * SUPERSAMPLE, widths * SUPERSAMPLE / 2, strict=True):
        draw.ellipse((x - width, y - width, x + width, y + width), fill=255)
    return np.asarray(canvas.resize((SIZE, SIZE), Image.Resampling.BOX), dtype=np.float64) / 255


def drawn_patch(surface_index: int, case: str, length: int) -> np.ndarray:
    """Surface `surface_index` with the case drawn on it, as 8-bit RGB."""
    grey = render_photo(SynthConfig(seed=7), SIZE, SIZE, 0, surface_index).image[..., 0] / 255.0
    rng = np.random.default_rng([surface_index, list(CASES).index(case)])
    if CASES[case] is None:
        grey = grey * joint_darkening(rng, SIZE)
    else:
        coverage = crack_coverage(rng, *CASES[case], length)
        darkness = rng.uniform(0.4, 0.6)
        grey = (
            grey * (1 - darkness * coverage) * (1 - 0.12 * darkness * ndimage.gaussian_filter(coverage, 1.5))
        )
    return np.repeat(np.clip(np.rint(grey * 255), 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variant", default="small_cnn", help="a trained variant of the latest run")
    parser.add_argument("--surfaces", type=positive_int, default=12, help="generated surfaces per case")
    parser.add_argument("--length", type=positive_int, default=190, help="crack length, px (patch: 227)")
    parser.add_argument("--segmenter", default=None, help="a crack segmenter checkpoint file")
    args = parser.parse_args()

    segmenter = load_segmenter(segmenter_of(args.segmenter))
    checkpoint = latest_checkpoint(args.variant)
    threshold = decision_threshold(checkpoint, None, args.variant)["value"]
    masks = CrackMaskConfig()
    print(
        f"{describe_cpu()}; precision fp32; {args.variant} at its threshold {threshold:.3f}; "
        f"segmenter_finds {masks.segmenter_finds} tiles"
    )
    called = {}
    with tempfile.TemporaryDirectory() as folder:
        patches, items = {}, []
        for case in CASES:
            for index in range(args.surfaces):
                name = f"{case} {index}"
                patches[name] = drawn_patch(index, case, args.length)
                Image.fromarray(patches[name]).save(Path(folder) / f"{len(items)}.png")
                items.append(ImageRef(name, Path(folder) / f"{len(items)}.png"))
        probabilities, _ = classify_photos(checkpoint, items, TilingConfig(tile_size=SIZE), precision="fp32")
    for case in CASES:
        names = [f"{case} {index}" for index in range(args.surfaces)]
        p = np.array([probabilities[name] for name in names])
        by_segmenter = np.array(
            [segmenter_finding(patches[n], SIZE, 0.0, 1.0, masks, segmenter) is not None for n in names]
        )
        called[case] = int(((p >= threshold) | by_segmenter).sum())
        print(
            f"straight: {case}: p(crack) {p.min():.3f}-{p.max():.3f} (median {np.median(p):.3f}); called by "
            f"the classifier {int((p >= threshold).sum())}, the segmenter {int(by_segmenter.sum())}, "
            f"either {called[case]} of {len(names)}",
            flush=True,
        )
    axis_aligned = sum(called[case] for case in AXIS_ALIGNED) / (len(AXIS_ALIGNED) * args.surfaces)
    print(ratio_line(axis_aligned, called[OBLIQUE] / args.surfaces, "the 30-degree cracks called"))


if __name__ == "__main__":
    main()
