"""One whole 12-MP photo fully explained: classified tile by tile at the training scale, LayerCAM mosaic,
crack boxes, crack mask (with the crack segmenter of `make run`, as `explain` by default; `--no-segmenter`:
darkness alone), overlay and panel — the `explain` path — against the naive way: one pytorch-grad-cam call per
tile in fp32 (plain model, batch of one), assembled into the same mosaic.

Needs a trained run (`make run`). The photo is synthetic (3 cracks at patch scale on 4032x3024 concrete)
unless --photo names one. How long `explain` takes depends on how many tiles the model flags (each flagged
tile's CAM is computed), which differs from one trained model to the next: so ours is timed explaining an
equal, fixed number of tiles (`--explained`, the most probable, via `tiling.cam_max_tiles`), each side
`--repeats` times, the two sides taking turns (a noisy machine slows both alike), and the medians are
compared. Prints seconds for both, the tiles each explained, how far
the two mosaics differ (ours as `explain` runs by default), and last `ratio <naive seconds / ours>`.

    .venv/bin/python bench/photo_explain.py
    .venv/bin/python bench/photo_explain.py --photo IMG_0042.jpg --variant small_cnn --explained 48
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from arguments import positive_int
from PIL import Image
from pytorch_grad_cam import LayerCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from trained_run import latest_checkpoint, latest_segmenter

from crack_pipeline.vision.data.folder import ImageRef
from crack_pipeline.vision.data.image_io import decode_image
from crack_pipeline.vision.data.labels import CLASS_NAMES
from crack_pipeline.vision.data.synthetic import SynthConfig, render_photo
from crack_pipeline.vision.explain.photos import explain_photo
from crack_pipeline.vision.explain.run import explain_images
from crack_pipeline.vision.explain.tiling import TilingConfig, cut_tiles
from crack_pipeline.vision.models.checkpoint import decision_threshold, model_from_checkpoint
from crack_pipeline.vision.models.inference import normalizer
from crack_pipeline.vision.models.precision import describe_cpu
from crack_pipeline.vision.models.registry import get_spec


def threshold_of(checkpoint: dict) -> float:
    return decision_threshold(checkpoint, None, "")["value"]


def naive(checkpoint: dict, path: Path, tiling: TilingConfig) -> tuple[float, np.ndarray]:
    """Every tile through its own LayerCAM call, fp32, NCHW, the model as trained (batch norms unfolded)."""
    started = time.perf_counter()
    image = decode_image(path.read_bytes()).pixels
    grid = tiling.grid(*image.shape[:2])
    tiles = torch.from_numpy(cut_tiles(image, grid, checkpoint["input_size"]))
    model = model_from_checkpoint(checkpoint)
    normalise = normalizer(checkpoint["mean"], checkpoint["std"])
    cam = LayerCAM(model=model, target_layers=[model.get_submodule(checkpoint["cam_layer"])])
    crack = CLASS_NAMES.index("crack")
    probabilities, cams = [], {}
    for index, tile in enumerate(tiles):
        heatmap = cam(
            input_tensor=normalise(tile[None].float() / 255), targets=[ClassifierOutputTarget(crack)]
        )
        probabilities.append(float(torch.softmax(cam.outputs.detach(), 1)[0, crack]))
        cams[index] = heatmap[0]
    mosaic = explain_photo(grid, np.array(probabilities), cams, tiling, threshold_of(checkpoint)).heatmap
    return time.perf_counter() - started, mosaic


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photo", type=Path, help="a photo file (default: a synthetic 4032x3024 one)")
    parser.add_argument("--variant", default="efficientnet_lite0")
    parser.add_argument(
        "--repeats", type=positive_int, default=5, help="timed runs of each side, >= 1 (the median counts)"
    )
    parser.add_argument("--explained", type=positive_int, default=32, help="tiles ours explains when timed")
    parser.add_argument("--no-segmenter", action="store_true", help="crack masks from darkness alone")
    args = parser.parse_args()
    segmenter = None if args.no_segmenter else latest_segmenter()

    checkpoint = latest_checkpoint(args.variant)
    checkpoint["cam_layer"] = get_spec(checkpoint["architecture"]).cam_layer
    tiling = TilingConfig().at_scale_of(checkpoint)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        if args.photo:
            (root / "photo.jpg").write_bytes(args.photo.read_bytes())
        else:
            photo = render_photo(SynthConfig(seed=7), 3024, 4032, cracks=3)
            Image.fromarray(photo.image).save(root / "photo.jpg", quality=92)
        size = Image.open(root / "photo.jpg").size
        print(
            f"{args.variant} at {checkpoint['input_size']} px, layer {checkpoint['cam_layer']}; "
            f"photo {size[0]}x{size[1]}, tiles of {tiling.tile_size} px, overlap {tiling.overlap}; "
            f"{torch.get_num_threads()} threads, fp32 ({describe_cpu()}); crack segmenter "
            f"{'off' if segmenter is None else 'on'}",
            flush=True,
        )
        items = [ImageRef("photo.jpg", root / "photo.jpg")]

        def ours_once(tiles: TilingConfig):
            started = time.perf_counter()
            result = explain_images(
                checkpoint,
                items,
                ["layercam"],
                threshold_of(checkpoint),
                sanity_images=0,
                tiling=tiles,
                segmenter=segmenter,
            )
            return time.perf_counter() - started, result

        ours_once(tiling)  # a process's first photo also pays one-time costs (allocator, kernels)
        equal = replace(tiling, cam_min_probability=0.0, cam_max_tiles=args.explained)
        seconds, runs = [], []
        for _ in range(args.repeats):
            seconds.append(ours_once(equal)[0])
            runs.append(naive(checkpoint, root / "photo.jpg", tiling))
        ours = statistics.median(seconds)
        default_seconds, result = ours_once(tiling)
        row = result.predictions.iloc[0]
        (heatmap_file,) = (name for name in result.files if name.endswith("_heatmap.npy"))
        heatmap = np.load(io.BytesIO(result.files[heatmap_file]))
        print(
            f"ours: {ours:.2f} s median (runs {', '.join(f'{s:.2f}' for s in seconds)}) classifying "
            f"{row.tiles} tiles and explaining {args.explained}; as explain runs by default "
            f"{default_seconds:.2f} s explaining the {row.explained_tiles} tiles the model flags "
            f"(p(crack) >= {tiling.cam_min_probability}); p(crack) {row.crack_probability:.3f}, "
            f"{row.crack_regions} crack regions",
            flush=True,
        )
        slow, mosaic = statistics.median(r[0] for r in runs), runs[0][1]
        print(
            f"naive: {slow:.2f} s median (runs {', '.join(f'{r[0]:.2f}' for r in runs)}) for {row.tiles} "
            "tiles, one LayerCAM call each, fp32",
            flush=True,
        )
        difference = np.abs(mosaic - heatmap.astype(np.float32))
        print(
            f"mosaics differ by at most {difference.max():.3f} (mean {difference.mean():.5f}): tiles under "
            f"p(crack) {tiling.cam_min_probability} are not explained, float16 storage",
            flush=True,
        )
    print(f"ratio {slow / ours:.2f}")


if __name__ == "__main__":
    main()
