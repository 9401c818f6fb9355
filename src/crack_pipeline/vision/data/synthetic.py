"""Deterministic synthetic concrete patches with cracks, confounders and pixel-exact crack masks.

Texture: multi-scale noise, aggregate grains, uneven light and a colour tint. Cracks: branching
random walks whose width and darkness vary along their length. Confounders that also darken
pixels (pores, stains, formwork joints, cast shadows) appear in both classes, so a model cannot
win by detecting "something dark". Every sample draws from its own random stream keyed by
(seed, class, index): the same seed gives byte-identical files in any order or worker count.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from pydantic import Field
from scipy.ndimage import gaussian_filter

from crack_pipeline.vision.data.image_io import png_bytes, resize_square
from crack_pipeline.vision.data.parallel import parallel_map
from crack_pipeline.vision.settings import settings_dataclass

POSITIVE_FOLDER, NEGATIVE_FOLDER = "Positive", "Negative"
_SUPERSAMPLE = 3  # cracks are drawn at 3x and box-filtered down, so sub-pixel widths stay visible


@settings_dataclass
class SynthConfig:
    count_per_class: int = 500
    image_size: int = 227
    seed: int = Field(0, ge=0)  # numpy seeds each sample with it: a negative one crashed mid-run
    difficulty: float = 0.5  # 0: wide dark cracks, few confounders; 1: hairlines among many confounders
    # Pillow's JPEG quality, 1 (worst) to 100: it took -5 and 500 without a word, as its default and as 100.
    jpeg_quality: int = Field(92, ge=1, le=100)

    def __post_init__(self):
        if self.count_per_class < 1:
            raise ValueError(f"synth.count_per_class must be at least 1, got {self.count_per_class}")
        if not 32 <= self.image_size <= 4096:
            raise ValueError(f"synth.image_size must be between 32 and 4096, got {self.image_size}")
        if not 0.0 <= self.difficulty <= 1.0:
            raise ValueError(f"synth.difficulty must be between 0 and 1, got {self.difficulty}")


@dataclass(frozen=True)
class Sample:
    name: str  # relative path of the image, e.g. "Positive/crack_00001.jpg"
    image: np.ndarray  # HxWx3 uint8
    mask: np.ndarray | None  # HxW bool crack pixels; None for negatives


def _lerp(easy: float, hard: float, difficulty: float) -> float:
    return easy + (hard - easy) * difficulty


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Zero-mean, unit-std noise correlated over about `sigma` pixels.

    Broad noise is filtered on a coarse grid and upsampled: a wide Gaussian at full resolution
    costs ~50x more and looks the same.
    """
    factor = max(1, int(sigma / 2))
    coarse = (shape[0] // factor + 2, shape[1] // factor + 2)
    field = gaussian_filter(rng.standard_normal(coarse), sigma / factor, mode="wrap").astype(np.float32)
    if factor > 1:
        size = (coarse[1] * factor, coarse[0] * factor)
        field = np.asarray(Image.fromarray(field).resize(size, Image.Resampling.BICUBIC))[
            : shape[0], : shape[1]
        ]
    field = field[: shape[0], : shape[1]].astype(np.float64)
    return (field - field.mean()) / (field.std() + 1e-8)


def _concrete(rng: np.random.Generator, size: int, difficulty: float) -> np.ndarray:
    """Grey-level concrete surface in [0, 1]: multi-scale noise, grains, uneven light."""
    shape = (size, size)
    roughness = _lerp(0.04, 0.09, difficulty) * rng.uniform(0.6, 1.4)
    surface = np.full(shape, rng.uniform(0.42, 0.78))
    for sigma, weight in ((0.6, 0.5), (2.0, 0.8), (6.0, 0.7), (size / 6, 1.0)):
        surface += roughness * weight * rng.uniform(0.5, 1.5) * _smooth_noise(rng, shape, sigma)
    grains = np.zeros(shape)
    count = int(rng.uniform(0.004, 0.012) * size * size)
    ys, xs = rng.integers(0, size, count), rng.integers(0, size, count)
    grains[ys, xs] = rng.normal(0.0, 1.0, count)
    surface += rng.uniform(0.25, 0.6) * gaussian_filter(grains, rng.uniform(0.7, 1.3))
    # Uneven light: a tilted plane and a soft vignette.
    yy, xx = np.mgrid[0:size, 0:size] / size - 0.5
    angle = rng.uniform(0, 2 * math.pi)
    surface *= 1 + rng.uniform(0, 0.25) * (np.cos(angle) * xx + np.sin(angle) * yy)
    surface *= 1 - rng.uniform(0, 0.25) * (xx**2 + yy**2)
    return surface


def _disc_field(rng, size, count, radius_range, supersample=2) -> np.ndarray:
    """Coverage in [0, 1] of `count` random soft discs (pores, pits)."""
    canvas = Image.new("L", (size * supersample, size * supersample), 0)
    draw = ImageDraw.Draw(canvas)
    for _ in range(count):
        cx, cy = rng.uniform(0, size, 2) * supersample
        rx, ry = rng.uniform(*radius_range, 2) * supersample
        draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=255)
    field = np.asarray(canvas.resize((size, size), Image.Resampling.BOX), dtype=np.float64) / 255
    return gaussian_filter(field, 0.6)


def _add_pores(rng, surface, difficulty) -> None:
    size = surface.shape[0]
    count = rng.poisson(_lerp(4, 14, difficulty) * (size / 227) ** 2)
    if count == 0:
        return
    pores = _disc_field(rng, size, count, (0.8, _lerp(3.0, 5.0, difficulty)))
    # A pit: dark hollow with a lit rim on the side facing the light.
    rim = np.roll(pores, (1, 1), axis=(0, 1)) - pores
    surface *= 1 - rng.uniform(0.35, 0.7) * pores
    surface += 0.08 * np.clip(rim, 0, None)


def _add_stains(rng, surface, tint, difficulty) -> None:
    size = surface.shape[0]
    for _ in range(rng.poisson(_lerp(0.6, 1.6, difficulty))):
        blob = _smooth_noise(rng, surface.shape, rng.uniform(size / 20, size / 8))
        blob = np.clip(blob - rng.uniform(0.8, 1.8), 0, None)
        blob /= blob.max() + 1e-8
        surface *= 1 - rng.uniform(0.1, 0.35) * blob
        tint += blob[..., None] * rng.uniform(-0.08, 0.08) * np.array([1.0, 0.3, -0.8])


def _add_joint(rng, surface) -> None:
    surface *= joint_darkening(rng, surface.shape[0])


def joint_darkening(rng: np.random.Generator, size: int) -> np.ndarray:
    """The factor a straight formwork joint or saw cut multiplies a `size`-px square surface by: dark, long,
    and straight (cracks wander, joints do not), edge to edge at one width, its edges soft."""
    canvas = Image.new("L", (size * 2, size * 2), 0)
    angle = rng.choice([0.0, math.pi / 2]) + rng.normal(0, 0.08)
    cx, cy = rng.uniform(0.15, 0.85, 2) * size * 2
    dx, dy = math.cos(angle) * size * 3, math.sin(angle) * size * 3
    width = max(1, round(rng.uniform(1.5, 6) * 2))
    ImageDraw.Draw(canvas).line((cx - dx, cy - dy, cx + dx, cy + dy), fill=255, width=width)
    line = np.asarray(canvas.resize((size, size), Image.Resampling.BOX), dtype=np.float64) / 255
    return 1 - rng.uniform(0.25, 0.6) * gaussian_filter(line, rng.uniform(0.4, 1.2))


def _add_shadow(rng, surface) -> None:
    """A cast shadow: a darker half-plane with a soft edge."""
    size = surface.shape[0]
    yy, xx = np.mgrid[0:size, 0:size]
    angle = rng.uniform(0, 2 * math.pi)
    offset = rng.uniform(0.2, 0.8) * size
    distance = (xx - size / 2) * math.cos(angle) + (yy - size / 2) * math.sin(angle) + size / 2 - offset
    softness = rng.uniform(2, 15)
    surface *= 1 - rng.uniform(0.1, 0.35) / (1 + np.exp(-distance / softness))


def _crack_coverage(rng: np.random.Generator, size: int, difficulty: float) -> np.ndarray:
    """Coverage in [0, 1] of a branching crack: a random walk whose heading drifts and width varies."""
    scale = _SUPERSAMPLE
    canvas = Image.new("L", (size * scale, size * scale), 0)
    draw = ImageDraw.Draw(canvas)
    base_width = rng.uniform(_lerp(2.0, 0.9, difficulty), _lerp(5.5, 2.6, difficulty))
    # Grow from a point in the middle of the patch in two opposite directions, so the crack spans it.
    start = tuple(rng.uniform(0.25, 0.75, 2) * size)
    heading = rng.uniform(0, 2 * math.pi)
    reach = rng.uniform(0.4, 1.0) * size
    walks = [(start, heading, base_width, reach, 0), (start, heading + math.pi, base_width, reach, 0)]
    while walks:
        (x, y), heading, width, length, depth = walks.pop()
        course = heading  # cracks keep a general course and zig-zag around it
        travelled, step = 0.0, 1.5
        phase = rng.uniform(0, 2 * math.pi)
        while travelled < length and -8 <= x <= size + 8 and -8 <= y <= size + 8:
            course += rng.normal(0, 0.03)
            heading = course + 0.8 * (heading - course) + rng.normal(0, 0.25)
            nx, ny = x + step * math.cos(heading), y + step * math.sin(heading)
            local = (
                width
                * (0.7 + 0.3 * math.sin(phase + travelled / rng.uniform(8, 20)))
                * rng.uniform(0.85, 1.15)
            )
            pixels = max(1.0, local * scale)
            draw.line((x * scale, y * scale, nx * scale, ny * scale), fill=255, width=round(pixels))
            r = pixels / 2
            draw.ellipse((nx * scale - r, ny * scale - r, nx * scale + r, ny * scale + r), fill=255)
            if depth < 2 and rng.random() < 0.012:
                branch = heading + rng.choice([-1, 1]) * rng.uniform(0.35, 1.0)
                walks.append(
                    (
                        (nx, ny),
                        branch,
                        width * rng.uniform(0.4, 0.75),
                        rng.uniform(0.15, 0.5) * size,
                        depth + 1,
                    )
                )
            x, y = nx, ny
            travelled += step
    return np.asarray(canvas.resize((size, size), Image.Resampling.BOX), dtype=np.float64) / 255


def render_sample(config: SynthConfig, positive: bool, index: int) -> Sample:
    """Render sample `index` of one class. Pure function of its arguments."""
    rng = np.random.default_rng([config.seed, int(positive), index])
    size, difficulty = config.image_size, config.difficulty
    surface = _concrete(rng, size, difficulty)
    tint = np.broadcast_to(rng.uniform(-0.04, 0.04) * np.array([1.0, 0.2, -1.0]), (size, size, 3)).copy()
    _add_pores(rng, surface, difficulty)
    _add_stains(rng, surface, tint, difficulty)
    # Confounders are a little more frequent without a crack, so the amount of dark,
    # elongated structure does not give the class away.
    if rng.random() < (_lerp(0.25, 0.5, difficulty) if positive else _lerp(0.85, 0.75, difficulty)):
        _add_joint(rng, surface)
    if rng.random() < 0.3:
        _add_shadow(rng, surface)
    mask = None
    if positive:
        coverage = _crack_coverage(rng, size, difficulty)
        darkness = rng.uniform(_lerp(0.55, 0.25, difficulty), _lerp(0.85, 0.6, difficulty))
        variation = np.clip(0.75 + 0.25 * _smooth_noise(rng, (size, size), 12), 0.3, 1.0)
        surface *= 1 - darkness * variation * coverage
        # The crack's lip casts a soft shadow beside it.
        surface *= 1 - 0.12 * darkness * gaussian_filter(coverage, 1.5)
        mask = coverage >= 0.3
    rgb = surface[..., None] * (1 + tint)
    rgb += rng.normal(0, rng.uniform(0.004, 0.015), rgb.shape)  # sensor noise
    image = np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)
    folder, stem = (POSITIVE_FOLDER, "crack") if positive else (NEGATIVE_FOLDER, "intact")
    return Sample(name=f"{folder}/{stem}_{index:05d}.jpg", image=image, mask=mask)


def encode_sample(config: SynthConfig, positive: bool, index: int) -> tuple[str, bytes, bytes | None]:
    """Render and encode one sample: (relative image path, JPEG bytes, PNG mask bytes or None)."""
    sample = render_sample(config, positive, index)
    image_file = io.BytesIO()
    Image.fromarray(sample.image).save(image_file, format="JPEG", quality=config.jpeg_quality)
    mask_bytes = None if sample.mask is None else png_bytes(sample.mask.astype(np.uint8) * 255)
    return sample.name, image_file.getvalue(), mask_bytes


def _encode(job: tuple[SynthConfig, bool, int]) -> tuple[str, bytes, bytes | None]:
    return encode_sample(*job)


def generate(config: SynthConfig, workers: int | None = None) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """All samples, encoded: ({image path: JPEG bytes}, {mask path: PNG bytes}); mask paths end in .png."""
    jobs = [(config, positive, i) for positive in (True, False) for i in range(1, config.count_per_class + 1)]
    images, masks = {}, {}
    for name, image_bytes, mask_bytes in parallel_map(_encode, jobs, workers):
        images[name] = image_bytes
        if mask_bytes is not None:
            masks[name.rsplit(".", 1)[0] + ".png"] = mask_bytes
    return images, masks


def render_photo(config: SynthConfig, height: int, width: int, cracks: int, index: int = 0) -> Sample:
    """A whole synthetic photo of `height` x `width`: one concrete surface with `cracks` cracks at the
    scale of the patches (`config.image_size`), each within a window of twice that side, and its crack
    mask. Pure function of its arguments: what inspectors shoot, for tiled inference and its benchmark.
    """
    rng = np.random.default_rng([config.seed, 2, index])
    side, difficulty = max(height, width), config.difficulty
    surface = _concrete(rng, side, difficulty)
    _add_pores(rng, surface, difficulty)
    surface, mask = surface[:height, :width].copy(), np.zeros((height, width), dtype=bool)
    window = min(2 * config.image_size, height, width)
    for _ in range(cracks):
        y, x = rng.integers(0, height - window + 1), rng.integers(0, width - window + 1)
        coverage = _crack_coverage(rng, window, difficulty)
        darkness = rng.uniform(_lerp(0.55, 0.25, difficulty), _lerp(0.85, 0.6, difficulty))
        area = (slice(y, y + window), slice(x, x + window))
        surface[area] *= 1 - darkness * coverage
        surface[area] *= 1 - 0.12 * darkness * gaussian_filter(coverage, 1.5)
        mask[area] |= coverage >= 0.3
    rgb = np.repeat(surface[..., None], 3, axis=2)
    rgb += rng.normal(0, 0.008, rgb.shape)  # sensor noise
    image = np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)
    return Sample(name=f"photo_{index:05d}.jpg", image=image, mask=mask)


def render_patches(config: SynthConfig, size: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Every sample of `config`, resized to `size` as a training patch is: names, uint8 N x 3 x size x size,
    labels (1 = crack). For mixing synthetic cracks into training on real photos."""
    samples = [
        render_sample(config, positive, i)
        for positive in (True, False)
        for i in range(1, config.count_per_class + 1)
    ]
    images = np.stack([resize_square(Image.fromarray(s.image), size) for s in samples])
    labels = np.array([int(s.mask is not None) for s in samples], dtype=np.int64)
    return [f"synthetic/{s.name}" for s in samples], images, labels
