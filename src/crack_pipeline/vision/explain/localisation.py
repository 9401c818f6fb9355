"""Does a heatmap point at the crack? Localisation scores against pixel masks, and naive baselines.

Every score compares a heatmap with a crack mask of the same size. The baselines answer the
question a score alone cannot: would a map that knows nothing about the model score as well?
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

REFERENCE_SIDE = 224  # tolerances are given in pixels at this scale and scaled to the image


def _check(heatmap: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    heatmap, mask = np.asarray(heatmap, dtype=np.float64), np.asarray(mask, dtype=bool)
    if heatmap.shape != mask.shape:
        raise ValueError(f"heatmap {heatmap.shape} and mask {mask.shape} differ in size")
    return heatmap, mask


def scaled_tolerance(shape: tuple[int, int], pixels_at_224: float) -> int:
    return max(0, round(pixels_at_224 * min(shape) / REFERENCE_SIDE))


def pointing_game(heatmap: np.ndarray, mask: np.ndarray, tolerance_at_224: float = 15) -> bool:
    """True when the heatmap's maximum lies on the crack, dilated by the tolerance (15 px at 224 px); never
    for a flat map (no evidence anywhere: a photo whose tiles were all too clean to explain, Sobel on a flat
    image), whose argmax is merely its first pixel and would score every crack near the top-left corner."""
    heatmap, mask = _check(heatmap, mask)
    if heatmap.max() <= heatmap.min():
        return False
    radius = scaled_tolerance(mask.shape, tolerance_at_224)
    peak = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    # The distance to the nearest crack pixel, not a dilated mask: a 12-MP photo's tolerance is ~200 px.
    cracks = np.argwhere(mask)
    return bool(len(cracks)) and bool(((cracks - peak) ** 2).sum(axis=1).min() <= radius**2)


def energy_in_mask(heatmap: np.ndarray, mask: np.ndarray) -> float:
    """Share of the heatmap's (non-negative) mass that falls on crack pixels."""
    heatmap, mask = _check(heatmap, mask)
    heatmap = np.clip(heatmap, 0, None)
    total = heatmap.sum()
    return float(heatmap[mask].sum() / total) if total > 0 else 0.0


def top_k_iou(heatmap: np.ndarray, mask: np.ndarray, percent: float = 5.0) -> float:
    """IoU between the crack and the `percent` % highest-scoring pixels of the heatmap."""
    heatmap, mask = _check(heatmap, mask)
    count = max(1, round(heatmap.size * percent / 100))
    top = np.zeros(heatmap.size, dtype=bool)
    top[np.argpartition(heatmap, heatmap.size - count, axis=None)[-count:]] = True
    top = top.reshape(heatmap.shape)
    union = (top | mask).sum()
    return float((top & mask).sum() / union) if union else 0.0


def centre_gaussian(shape: tuple[int, int], sigma_fraction: float = 0.25) -> np.ndarray:
    """A blob in the middle: what a heatmap looks like when it knows only that objects tend to be central."""
    height, width = shape
    y, x = np.mgrid[0:height, 0:width]
    sigma_y, sigma_x = sigma_fraction * height, sigma_fraction * width
    return np.exp(-(((y - (height - 1) / 2) / sigma_y) ** 2 + ((x - (width - 1) / 2) / sigma_x) ** 2) / 2)


def random_map(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Smooth random noise at the scale of a 7x7 CAM grid, drawn on a grid 8x coarser than `shape` and
    zoomed up (a full-resolution filter this wide takes seconds on a 12-MP photo)."""
    coarse = tuple(max(1, -(-side // 8)) for side in shape)
    noise = ndimage.gaussian_filter(rng.random(coarse), sigma=min(shape) / 14 / 8)
    zoomed = ndimage.zoom(noise, [side / c for side, c in zip(shape, coarse, strict=True)], order=1)
    return zoomed[: shape[0], : shape[1]]


def grey(image: np.ndarray) -> np.ndarray:
    """An HxW or HxWx3 image as HxW float64 grey (the channels' mean)."""
    image = np.asarray(image, dtype=np.float64)
    return image.mean(axis=2) if image.ndim == 3 else image


def sobel_map(image: np.ndarray) -> np.ndarray:
    """Edge strength of the image: a crack is an edge, so this is the bar a model's heatmap must clear."""
    smooth = ndimage.gaussian_filter(grey(image), 1.0)
    return np.hypot(ndimage.sobel(smooth, axis=0), ndimage.sobel(smooth, axis=1))
