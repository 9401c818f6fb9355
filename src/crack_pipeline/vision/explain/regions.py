"""Crack regions as boxes from a photo's maps, no box labels needed: connected components of its thresholded
tile probabilities, each tightened to where the CAM evidence inside it is strong (or of any map and evidence:
segmenter_calls.found_boxes boxes the crack segmenter's cracks with it)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

BOX_FIELDS = ("x0", "y0", "x1", "y1", "area", "probability", "evidence")


def crack_boxes(
    probability_map: np.ndarray,
    evidence_map: np.ndarray,
    threshold: float = 0.5,
    evidence_share: float = 0.3,
    min_area: int = 1,
    min_evidence: float = 0.0,
) -> list[dict]:
    """One box per 8-connected region where `probability_map` >= `threshold`, most probable first.

    A region is as coarse as the tiles that found it; its box is the bounding box of the pixels inside
    it where `evidence_map` reaches `evidence_share` of the region's peak (the whole region without any
    evidence). Equally probable regions come in reading order. Each box: x0, y0 (first pixel) and x1, y1
    (one past the last), in the maps' pixels; `area` the region's pixel count; `probability` its highest
    p(crack), `evidence` its evidence peak. Regions under `min_area` pixels or `min_evidence` are dropped:
    a tile's guess with nothing to point at.
    """
    probability_map = np.asarray(probability_map, dtype=np.float32)
    evidence_map = np.asarray(evidence_map, dtype=np.float32)
    if probability_map.shape != evidence_map.shape:
        raise ValueError(f"probability map {probability_map.shape} and evidence {evidence_map.shape} differ")
    labels, _ = ndimage.label(probability_map >= threshold, structure=np.ones((3, 3), dtype=bool))
    boxes = []
    # Statistics within each region's bounding slice: over the whole map, scipy's per-label
    # reductions sort all 12 million labels of a phone photo. Reductions masked by `where`, not copies:
    # a region may be most of a 12-MP photo.
    for number, found in enumerate(ndimage.find_objects(labels), start=1):
        inside = labels[found] == number
        area = int(np.count_nonzero(inside))
        if area < min_area:
            continue
        evidence = evidence_map[found]
        peak = float(np.max(evidence, where=inside, initial=0.0))  # no evidence counts as 0
        if peak < min_evidence:
            continue
        strong = inside & (evidence >= evidence_share * peak) if peak > 0 else inside
        rows, columns = np.flatnonzero(strong.any(axis=1)), np.flatnonzero(strong.any(axis=0))
        y, x = found
        boxes.append(
            {
                "x0": int(x.start + columns[0]),
                "y0": int(y.start + rows[0]),
                "x1": int(x.start + columns[-1] + 1),
                "y1": int(y.start + rows[-1] + 1),
                "area": area,
                "probability": float(np.max(probability_map[found], where=inside, initial=-np.inf)),
                "evidence": peak,
            }
        )
    # Regions as probable to 4 digits (many tiles say 1.000) in reading order: the order does not follow
    # the blended map's last bits, except for values straddling a 4th-digit boundary.
    return sorted(boxes, key=lambda box: (-round(box["probability"], 4), box["y0"], box["x0"]))
