"""Crack masks from image-level supervision only, scored on real pavement photos the model never saw.

The Özgenel champion (EfficientNet-Lite0 fine-tuned on ../shared/data/ozgenel_dev with conf/ozgenel's recipe,
trained here once or `--champion FILE`) explains the 118 CFD photos (../shared/data/cfd, 480x320, pixel
masks) as `explain` does: tiles of `--tile` px (CFD's 1-5 px cracks at a 224-px input then have Özgenel's
widths, as for the CFD tiles) overlapping by `--overlap`, LayerCAM, a crack mask per photo
(vision/explain/crack_masks.py) with the crack segmenter's pixels joined (vision/explain/crack_segmenter.py;
`--segmenter FILE`, else `make run`'s latest; `--no-segmenter`: darkness alone). A model of several domains
(the general recipe's) is used as the domain `--domain` names (e.g. cfd_tiles: its threshold, and tiles of
its patch side unless `--tile`); `--cfd DIR` takes another folder of images/ and masks/ (e.g. the photos of
a split's test part).
Printed: the heatmaps' localisation (`explain: ... scope=photo` pointing game and energy in the mask,
against the centred and Sobel baselines), the `segment:` line (tolerant F1 at 2 px, IoU, ODS F1 at zero
tolerance over the photos, the Otsu-darkness and Sobel baselines on the same
photos, length and width errors), the seconds the mask and its measurements add to a generated 12-MP photo
(median of 3), and last `ratio <our F1 / best baseline F1>`. A photo the champion calls clean is called
cracked by the segmenter where it traces a crack `--segmenter-finds` tile sides long (explain's default;
0: never); printed too: how many clean real patches (Özgenel's and SDNET walls' Negative/, each its own
tile) it calls cracked, and the seconds it takes over a clean 12-MP photo. `--keep DIR` writes each photo's
crack mask, crack score (what ODS sweeps), heatmap and who called it to DIR/<stem>.npz, to study the masks
without explaining the photos again. `--adapt all` first adapts the segmenter to the CFD photos, their masks
unseen (as `segmenter_adaptation.folder` does: vision/transfer/segmenter_adaptation.py); `--adapt even` to
the even-numbered ones alone, and scores the odd-numbered ones (photos it never learned from), as `--odd`
does without adapting.

    .venv/bin/python bench/segment_quality.py                       # about 15 min on 2 cores
    .venv/bin/python bench/segment_quality.py --champion champion.pt --tile 128
    .venv/bin/python bench/segment_quality.py --champion champion.pt --segmenter-finds 0  # classifier only
    .venv/bin/python bench/segment_quality.py --champion general.pt --domain cfd_tiles   # a general model
    .venv/bin/python bench/segment_quality.py --champion champion.pt --keep cfd_masks  # masks kept as .npz
    .venv/bin/python bench/segment_quality.py --champion champion.pt --adapt even  # adapted, held out
    .venv/bin/python bench/segment_quality.py --champion champion.pt --odd  # the same photos, not adapted
    .venv/bin/python bench/segment_quality.py --champion champion.pt --odd --segmenter-levels 1  # one scale
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from arguments import overlap, positive_int, ratio_line
from champion import add_champion_options, champion_of
from PIL import Image
from scipy import ndimage
from shared_data import data_root, require_data
from trained_run import segmenter_of

from crack_pipeline.vision.data.folder import ImageRef
from crack_pipeline.vision.data.synthetic import SynthConfig, render_photo
from crack_pipeline.vision.explain import run
from crack_pipeline.vision.explain.artefacts import ArtefactWriter
from crack_pipeline.vision.explain.crack_masks import CrackMaskConfig
from crack_pipeline.vision.explain.crack_segmenter import CrackSegmenter, load_segmenter
from crack_pipeline.vision.explain.measurements import listed_cracks
from crack_pipeline.vision.explain.photos import photo_crack_mask
from crack_pipeline.vision.explain.quality import quality_lines
from crack_pipeline.vision.explain.run import explain_images
from crack_pipeline.vision.explain.segmenter_calls import segmenter_finding
from crack_pipeline.vision.explain.tiling import TilingConfig
from crack_pipeline.vision.models.checkpoint import decision_threshold, describe_threshold, for_domain
from crack_pipeline.vision.models.precision import describe_cpu
from crack_pipeline.vision.transfer.segmenter_adaptation import AdaptationConfig, adapted_segmenter


def mask_seconds(
    tile: int,
    segmenter: CrackSegmenter | None,
    config: CrackMaskConfig,
    everywhere: bool = False,
    repeats: int = 3,
) -> tuple[float, int]:
    """Median seconds of the crack mask (with the `segmenter`'s pixels, if any) and its measurements on a
    generated 4032x3024 photo whose evidence covers its cracks as a CAM would (`everywhere`: the whole
    photo, as for a model that flags every tile), and the number of cracks measured."""
    photo = render_photo(SynthConfig(image_size=tile, seed=7, difficulty=0.3), 3024, 4032, cracks=6)
    near_cracks = ndimage.binary_dilation(photo.mask, iterations=tile // 4)
    evidence = np.ones_like(near_cracks) if everywhere else near_cracks
    times, cracks = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        mask, _ = photo_crack_mask(photo.image, evidence.astype(np.float32), tile, config, segmenter)
        cracks = len(listed_cracks(mask, round(config.join_gap * tile)))  # as explain
        times.append(time.perf_counter() - started)
    return float(np.median(times)), cracks


def false_finds(data: Path, net: CrackSegmenter, config: CrackMaskConfig, tile: int) -> None:
    """Print how many clean real patches (of `data`) the segmenter calls cracked (each patch its own tile),
    and the seconds it takes over a clean generated 12-MP photo."""
    # Each as a photo the classifier calls clean (p(crack) 0 under a threshold of 1), so the segmenter looks.
    for folder in ("ozgenel_dev", "sdnet_walls_dev"):
        files = sorted((data / folder / "Negative").iterdir())
        found = 0
        for file in files:
            image = np.asarray(Image.open(file).convert("RGB"))
            found += segmenter_finding(image, image.shape[0], 0.0, 1.0, config, net) is not None
        print(f"segmenter finds: {found} of {len(files)} clean {folder} patches called cracked")
    photo = render_photo(SynthConfig(image_size=tile, seed=7, difficulty=0.3), 3024, 4032, cracks=0)
    started = time.perf_counter()
    found = segmenter_finding(photo.image, tile, 0.0, 1.0, config, net) is not None
    print(
        f"segmenter over a clean 12-MP photo: {time.perf_counter() - started:.2f} s (called cracked: {found})"
    )


def keeping_writer(folder: Path) -> type[ArtefactWriter]:
    """explain's writer that also writes each photo's crack mask, crack score, heatmap, p(crack) and who
    called it cracked to `folder`/<stem>.npz (`--keep`)."""

    class KeepingWriter(ArtefactWriter):
        def add(self, method, photo, explanation) -> None:
            super().add(method, photo, explanation)
            np.savez_compressed(
                folder / f"{Path(photo.ref.name).stem}.npz",
                mask=explanation.crack_mask,
                score=explanation.crack_score,
                heatmap=explanation.heatmap,
                probability=explanation.probability,
                called_by=str(explanation.called_by or ""),
            )

    return KeepingWriter


def cfd_photos(cfd: Path) -> list[str]:
    """The names of `cfd`'s photos (images/*.jpg), each with its mask (masks/<stem>.png); else a stop saying
    what is missing, before the champion trains."""
    names = sorted(path.name for path in (cfd / "images").glob("*.jpg"))
    if not names:
        raise SystemExit(f"{cfd / 'images'}: no .jpg photos")
    unmasked = [name for name in names if not (cfd / "masks" / f"{Path(name).stem}.png").is_file()]
    if unmasked:
        raise SystemExit(
            f"{cfd / 'masks'}: no mask {Path(unmasked[0]).stem}.png of {unmasked[0]} "
            f"({len(unmasked)} photos unmasked)"
        )
    # Only photos with crack pixels are scored: with none, explain returns no `segment` (a KeyError).
    if not any(crack_pixels(cfd, name).any() for name in names):
        raise SystemExit(f"{cfd / 'masks'}: no mask has a crack pixel (> 127): nothing to score")
    return names


def crack_pixels(cfd: Path, name: str) -> np.ndarray:
    """The crack pixels of photo `name`'s mask (masks/<stem>.png above 127)."""
    return np.asarray(Image.open(cfd / "masks" / f"{Path(name).stem}.png").convert("L")) > 127


def adapted_to(
    segmenter: dict, cfd: Path, names: list[str], which: str, tile: int, masks_config: CrackMaskConfig
) -> tuple[dict, list[str]]:
    """`segmenter` adapted to the photos `which` names (all, or the even-numbered ones), their masks unseen,
    and the names of the photos to score (all, or the odd-numbered ones)."""
    learned_from, scored = (names, names) if which == "all" else (names[::2], names[1::2])
    started = time.perf_counter()
    photos = (np.asarray(Image.open(cfd / "images" / name).convert("RGB")) for name in learned_from)
    adapted, learned = adapted_segmenter(segmenter, photos, AdaptationConfig(), tile, masks_config)
    print(
        f"segmenter adapted to {learned['photos']} CFD photos, masks unseen, in "
        f"{time.perf_counter() - started:.0f} s (pseudo-labels {100 * learned['crack']:.1f}% crack, "
        f"{100 * learned['unknown']:.1f}% left out); scored on {len(scored)} photos"
        + (" it never learned from" if which == "even" else ""),
        flush=True,
    )
    return adapted, scored


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=positive_int, default=224, help="the champion's input side")
    add_champion_options(parser)
    parser.add_argument("--save-champion", default=None, help="write the trained champion here")
    parser.add_argument(
        "--tile",
        type=positive_int,
        default=None,
        help="tile side on the CFD photos, px (default 96, or --domain's)",
    )
    parser.add_argument(
        "--domain",
        default=None,
        help="a domain of a model of several (a general model's cfd_tiles): its threshold and patch side",
    )
    parser.add_argument("--cfd", default=None, help="a folder of images/ and masks/; default: --data's cfd/")
    parser.add_argument(
        "--overlap", type=overlap, default=TilingConfig.overlap, help="of the tiles, 0 to 0.75"
    )
    parser.add_argument("--segmenter", default=None, help="a crack segmenter checkpoint file")
    parser.add_argument("--no-segmenter", action="store_true", help="masks from darkness alone")
    parser.add_argument(
        "--segmenter-finds",
        type=float,
        default=CrackMaskConfig.segmenter_finds,
        help="tile sides: the segmenter also calls cracked where it traces a crack this long (0: never)",
    )
    parser.add_argument(
        "--segmenter-levels",
        type=int,
        default=CrackMaskConfig.segmenter_levels,
        help="scales the segmenter looks at, each half the one before (1: the photo's own alone)",
    )
    parser.add_argument("--keep", default=None, help="a new folder: each photo's mask and score as .npz")
    parser.add_argument(
        "--adapt",
        choices=["all", "even"],
        default=None,
        help="adapt the segmenter to the photos (all), or to the even-numbered ones and score the odd ones",
    )
    parser.add_argument("--odd", action="store_true", help="score the odd-numbered photos only")
    args = parser.parse_args()
    data = data_root(args)
    cfd = Path(args.cfd) if args.cfd else data / "cfd"
    require_data(cfd, "images", "masks")
    require_data(data, *([] if args.champion else ["ozgenel_dev"]))
    names = cfd_photos(cfd)
    if args.keep and Path(args.keep).exists():  # before the champion trains; nothing is overwritten
        raise SystemExit(f"--keep {args.keep}: exists already, give a new folder")
    segmenter = None if args.no_segmenter else segmenter_of(args.segmenter)
    masks_config = CrackMaskConfig(
        segmenter_finds=args.segmenter_finds or None, segmenter_levels=args.segmenter_levels
    )
    if segmenter and masks_config.segmenter_finds:  # its false finds are counted on clean real patches
        require_data(data, "ozgenel_dev", "sdnet_walls_dev")
        print(f"the segmenter also calls cracked where it traces a crack {args.segmenter_finds} tiles long")
    checkpoint = champion_of(args, args.size)
    if args.save_champion:
        torch.save(checkpoint, args.save_champion)
    checkpoint = for_domain(checkpoint, args.domain, "--domain")
    if args.tile is None:
        args.tile = checkpoint["patch_side"] if args.domain else 96
    threshold = decision_threshold(checkpoint, None, "--domain")
    print(
        f"{describe_cpu()}; precision fp32; LayerCAM; CFD tiles of {args.tile} px; "
        f"{describe_threshold(threshold)}",
        flush=True,
    )
    if args.adapt:
        if segmenter is None:
            raise SystemExit("--adapt adapts the crack segmenter: leave out --no-segmenter")
        segmenter, names = adapted_to(segmenter, cfd, names, args.adapt, args.tile, masks_config)
    elif args.odd:
        names = names[1::2]
    masks = {name: crack_pixels(cfd, name) for name in names}
    if args.keep:
        Path(args.keep).mkdir(parents=True)
        run.ArtefactWriter = keeping_writer(Path(args.keep))
    started = time.perf_counter()
    result = explain_images(
        checkpoint,
        [ImageRef(name, cfd / "images" / name, "crack") for name in names],
        ["layercam"],
        threshold["value"],
        masks=masks,
        precision="fp32",
        tiling=TilingConfig(tile_size=args.tile, overlap=args.overlap),
        segmenter=segmenter,
        crack_masks=masks_config,
    )
    seconds = time.perf_counter() - started
    segment = result.quality["layercam"]["segment"]
    called_by = result.predictions.called_by.value_counts()
    print(
        f"{len(names)} CFD photos explained in {seconds:.0f} s; called cracked: {called_by.sum()} "
        f"({called_by.get('classifier', 0)} by the classifier, {called_by.get('segmenter', 0)} by the "
        "segmenter; an image called clean gets an empty mask)"
    )
    print(f"tiles overlapping by {args.overlap}:", *quality_lines(result.quality), sep="\n")
    print(f"ODS threshold {segment['ods_threshold']:.2f} (of the crack score on [0, 1])")
    net = load_segmenter(segmenter) if segmenter else None
    if net is not None and masks_config.segmenter_finds:
        false_finds(data, net, masks_config, args.tile)
    mask_time, cracks = mask_seconds(args.tile, net, masks_config)
    print(f"mask + measurements of a 12-MP photo ({cracks} cracks): {mask_time:.2f} s")
    mask_time, cracks = mask_seconds(args.tile, net, masks_config, everywhere=True)
    print(f"the same with evidence over the whole photo ({cracks} cracks): {mask_time:.2f} s")
    best_baseline = max(segment["baseline_threshold_f1"], segment["baseline_sobel_f1"])
    print(ratio_line(segment["f1"], best_baseline, "the best baseline's F1", 3))


if __name__ == "__main__":
    main()
