"""Which CAM layer and method localise cracks? The measurement behind the model registry's CAM layers.

Needs a trained run (`make run`): for each trained variant of the latest run, explains the crack images of
the latest test split with every (layer, method) asked for, scores the heatmaps against the synthetic masks
(pointing game, energy inside the mask) and prints them beside the centred-Gaussian and Sobel baselines.
Last line: `ratio <pointing game of the registry's choice / the best baseline's>` for the champion
architecture (efficientnet_lite0 unless --variant says otherwise).

    .venv/bin/python bench/cam_layers.py                                  # registry layer vs the last layer
    .venv/bin/python bench/cam_layers.py --variant small_cnn --layers features,features.10,features.6
"""

from __future__ import annotations

import argparse

import pandas as pd
from arguments import ratio_line
from trained_run import DATA, latest, latest_checkpoint

from crack_pipeline.vision.data.folder import Folder, ImageRef
from crack_pipeline.vision.data.masks import read_masks_of
from crack_pipeline.vision.data.sources import image_files
from crack_pipeline.vision.data.spreadsheet_cells import as_written
from crack_pipeline.vision.explain.run import explain_images
from crack_pipeline.vision.models.checkpoint import decision_threshold
from crack_pipeline.vision.models.precision import Precision, describe_cpu
from crack_pipeline.vision.models.registry import get_spec

LAST_LAYER = {
    "efficientnet_lite0": "bn2",
    "efficientnet_lite1": "bn2",
    "efficientnet_lite2": "bn2",
    "small_cnn": "features",
    "resnet18": "layer4",
    "squeezenet1_1": "features",
}


def compared_layers(architecture: str, asked: str | None) -> list[str]:
    """The layers to score: those `asked` (comma-separated), else the registry's and the last one; a
    one-class model, explained by its anomaly map and not by a CAM, is refused (it was a KeyError)."""
    spec = get_spec(architecture)
    if spec.kind != "supervised":
        raise SystemExit(
            f"{architecture} is a {spec.kind} model: its heatmap is its anomaly map, no CAM layer"
        )
    if asked:
        return asked.split(",")
    if architecture not in LAST_LAYER:
        raise SystemExit(f"no last layer known for {architecture}: name the layers with --layers")
    return [spec.cam_layer, LAST_LAYER[architecture]]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variant", default="efficientnet_lite0")
    parser.add_argument("--layers", help="comma-separated module names (default: registry's and last layer)")
    parser.add_argument("--methods", default="layercam,gradcam")
    args = parser.parse_args()

    checkpoint = latest_checkpoint(args.variant)
    layers = compared_layers(checkpoint["architecture"], args.layers)
    chosen = get_spec(checkpoint["architecture"]).cam_layer
    # Its paths as the project wrote them (a name starting like a formula is quoted in the file).
    split = as_written(pd.read_csv(latest("03_primary/split_manifest.csv")))
    cracks = split[(split.split == "test") & (split.label == "crack")].sort_values("path")
    items = [
        ImageRef(path, file, label)
        for path, file, label in zip(cracks.path, image_files(cracks), cracks.label, strict=True)
    ]
    masks = read_masks_of(Folder.scan(DATA / "01_raw/synthetic/masks"), list(cracks.path))
    classifying = Precision.resolve("auto", "inference").name
    print(f"{describe_cpu()}; precision {classifying} (classifying), fp32 (heatmaps)")
    print(f"{args.variant}: {len(items)} test crack images, masks for {len(masks)}")

    scores = {}
    for layer in layers:
        result = explain_images(
            {**checkpoint, "cam_layer": layer},
            items,
            args.methods.split(","),
            decision_threshold(checkpoint, None, "")["value"],
            masks=masks,
            sanity_images=0,
        )
        for method, quality in result.quality.items():
            scores[layer, method] = quality
            print(
                f"layer={layer} method={method} pointing_game={quality['pointing_game']:.3f} "
                f"energy_in_mask={quality['energy_in_mask']:.3f} "
                f"(mask share {quality['mask_share']:.3f}; "
                f"centre {quality['baseline_center_pointing']:.3f} / "
                f"{quality['baseline_center_energy']:.3f}, "
                f"Sobel {quality['baseline_sobel_pointing']:.3f} / {quality['baseline_sobel_energy']:.3f})",
                flush=True,
            )
    reference = scores.get((chosen, "layercam")) or next(iter(scores.values()))
    best_baseline = max(reference["baseline_center_pointing"], reference["baseline_sobel_pointing"])
    print(ratio_line(reference["pointing_game"], best_baseline, "the best baseline's pointing game"))


if __name__ == "__main__":
    main()
