"""Does `evaluate_folder` tell a folder unlike the model's training from one like it? Measured on real data.

The Özgenel champion (EfficientNet-Lite0 fine-tuned on ../shared/data/ozgenel_dev with conf/ozgenel's recipe,
trained here once or `--champion FILE`) keeps, as training does, a reference of its validation images'
features (vision/transfer/familiarity.py). Printed: the share of tiles beyond its limit (1 % expected of
images like the validation ones) for Özgenel's test split (the same surface), SDNET2018's wall patches
(../shared/data/sdnet_walls_dev, cut into tiles as `evaluate_folder` cuts them) and two 227-px crops of each
CFD pavement photo; last, `ratio <SDNET's share / Özgenel test's share>`.

    .venv/bin/python bench/familiarity.py --champion champion.pt       # about 3 min on 2 cores
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from champion import add_champion_options, champion_of, ozgenel_splits
from PIL import Image
from shared_data import data_root, require_data

from crack_pipeline.vision.data.folder import ImageRef
from crack_pipeline.vision.data.tensor_cache import ImageTensors
from crack_pipeline.vision.evaluation.evaluate import checkpoint_probabilities_and_features
from crack_pipeline.vision.explain.photos import classify_photos
from crack_pipeline.vision.explain.tiling import TilingConfig
from crack_pipeline.vision.models.precision import describe_cpu
from crack_pipeline.vision.transfer.familiarity import (
    feature_reference,
    reference_distances,
    unfamiliar_share,
)

PRECISION = "fp32"


def features_of(checkpoint: dict, data: ImageTensors) -> np.ndarray:
    return checkpoint_probabilities_and_features(checkpoint, data, PRECISION)[1]


def cfd_crops(images: Path, size: int) -> ImageTensors:
    """The left and right 227-px squares of each CFD photo (480 x 320) in `images`, resized to the model's
    input."""
    crops, names = [], []
    for path in sorted(images.glob("*.jpg")):
        photo = Image.open(path).convert("RGB")
        top = (photo.height - 227) // 2
        for left in (0, photo.width - 227):
            square = photo.crop((left, top, left + 227, top + 227)).resize((size, size), Image.BILINEAR)
            crops.append(np.asarray(square))
            names.append(f"{path.name}@{left}")
    images = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()
    return ImageTensors(images, torch.ones(len(names), dtype=torch.int64), names)  # labels unused


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=224, help="the champion's input side")
    add_champion_options(parser)
    args = parser.parse_args()
    data = data_root(args)
    _, walls, cfd = require_data(data, "ozgenel_dev", "sdnet_walls_dev", "cfd/images")
    print(f"{describe_cpu()}; precision {PRECISION}", flush=True)
    checkpoint = champion_of(args, args.size)
    size = checkpoint["input_size"]
    ozgenel = ozgenel_splits(data, size)
    reference = feature_reference(features_of(checkpoint, ozgenel["val"]))
    print(f"reference: {len(reference['vectors'])} Özgenel validation images, limit {reference['limit']:.4f}")

    tiles: list[np.ndarray] = []
    sdnet = sorted(p for p in walls.rglob("*.jpg"))
    _, tiles_of = classify_photos(
        checkpoint,
        [ImageRef(str(p), p) for p in sdnet],
        TilingConfig(),
        precision=PRECISION,
        tile_features=lambda features: tiles.append(reference_distances(reference, features)),
    )
    same = unfamiliar_share(
        reference, reference_distances(reference, features_of(checkpoint, ozgenel["test"]))
    )
    walls = unfamiliar_share(reference, np.concatenate(tiles))
    pavement = unfamiliar_share(
        reference, reference_distances(reference, features_of(checkpoint, cfd_crops(cfd, size)))
    )
    for name, found in (
        ("ozgenel test", same),
        (f"sdnet walls ({len(sdnet)} patches, {sorted(set(tiles_of.values()))} tiles each)", walls),
        ("cfd pavement crops", pavement),
    ):
        print(
            f"familiarity: {name}: unfamiliar={found['share']:.3f} of {found['n']} tiles "
            f"(nominal {found['expected']})"
        )
    print(f"ratio {walls['share'] / same['share']:.2f}" if same["share"] else "ratio undefined (Özgenel: 0)")


if __name__ == "__main__":
    main()
