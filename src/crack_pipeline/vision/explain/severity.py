"""A crack's severity band by its widest width, and the photos' scale: the bands' bounds (in mm with a scale,
else px) as settings give them, checked, and put in words for the gallery; an image's cracks summed up."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from crack_pipeline.vision.settings import ConfigError

# Upper bounds of the max width. 0.3 mm is Eurocode 2's usual crack-width limit for reinforced concrete;
# 1 and 3 mm split what lies above it coarsely: tune them to the asset and its standard.
MM_BANDS: dict[str, float] = {"hairline": 0.3, "fine": 1.0, "medium": 3.0, "wide": math.inf}
# Without a scale: a hairline is one pixel wide, at the photo's resolution limit; the rest are the mm
# bands at ~0.25 mm/px, a 12-MP photo of a metre of wall.
PX_BANDS: dict[str, float] = {"hairline": 1.0, "fine": 4.0, "medium": 12.0, "wide": math.inf}


def _bound(value: object) -> float:
    """A band's upper bound as a number (nan for anything else: no band may hold it)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return math.nan
    return float(value)


def check_scale(mm_per_pixel: object, setting: str = "mm_per_pixel") -> None:
    """A `ConfigError` naming `setting` unless `mm_per_pixel` is None (no scale) or a positive number."""
    if mm_per_pixel is not None and not 0 < _bound(mm_per_pixel) < math.inf:
        raise ConfigError(f"{setting}: mm a pixel, above 0 (null: unknown), not {mm_per_pixel!r}")


def check_measurement_settings(explain: Mapping[str, Any]) -> None:
    """`explain.mm_per_pixel` and `explain.severity_bands`, checked before a run: bands out of order were
    refused only once its first photo was measured (after `kedro run`'s training). Without a scale widths
    are in px, never under 1 px: bands in mm given without one ({hairline: 0.3, ...}) called no crack
    hairline, without a word."""
    check_scale(explain.get("mm_per_pixel"), "explain.mm_per_pixel")
    if (bands := explain.get("severity_bands")) is None:
        return
    in_mm = explain.get("mm_per_pixel") is not None or explain.get("scales") is not None
    names, bounds = _bands(bands, in_mm, setting="explain.severity_bands")
    if len(names) == 1 and math.isfinite(bounds[0]):
        # Kedro's --params=explain.severity_bands.fine=0.2 replaces the default table by this one band.
        raise ConfigError(
            f"explain.severity_bands: one band, {dict(bands)}: the last band takes every wider crack, "
            f"so every crack would be {names[0]} and its bound {bounds[0]:g} bounds nothing; give every "
            "band, in order (--params=explain.severity_bands.<band>=... replaces the default bands by that "
            "one, it does not change its bound: write the table in conf/local/parameters_explain.yml). A "
            "survey begun with it (allowed before) goes on with --params=explain.severity_bands."
            f"{names[0]}=null: that one band without a bound, every crack {names[0]} as then"
        )
    unreachable = [
        f"{name}: {bound:g}" for name, bound in zip(names[:-1], bounds[:-1], strict=True) if bound < 1
    ]
    if not in_mm and unreachable:
        raise ConfigError(
            f"explain.severity_bands: no crack is under 1 px wide, so {', '.join(unreachable)} holds none: "
            "without explain.mm_per_pixel or explain.scales widths are in px; give the photos' scale for "
            "bounds in mm, or bounds in px"
        )


def _bands(
    width_bands: Mapping[str, float] | None, in_mm: bool, setting: str = "severity_bands"
) -> tuple[list[str], np.ndarray]:
    """The bands' names and upper bounds. The last band takes every wider crack, so its bound may be
    `.inf` or null; a bound before it that is not a number (null, text) would take no crack or all."""
    bands = width_bands if width_bands is not None else MM_BANDS if in_mm else PX_BANDS
    if not isinstance(bands, Mapping) or not bands:
        raise ConfigError(f"{setting} must map band names to upper bounds, got {bands!r}")
    *inner, last = bands.values()
    bounds = np.asarray([*map(_bound, inner), math.inf if last is None else _bound(last)])
    if not np.isfinite(bounds[:-1]).all() or np.isnan(bounds[-1]) or (np.diff(bounds) <= 0).any():
        raise ConfigError(
            f"{setting} must map band names to increasing upper bounds (numbers; the last, open-ended, "
            f"may be .inf or null), got {dict(bands)}"
        )
    return list(bands), bounds


def severity_of(widths: np.ndarray, width_bands: Mapping[str, float] | None, in_mm: bool) -> list[str]:
    """The band of each of the widest `widths` (mm with a scale, `in_mm`, else px): the first of the ordered
    `width_bands` (name -> upper bound; default `MM_BANDS` or `PX_BANDS`) whose bound it does not exceed."""
    names, bounds = _bands(width_bands, in_mm)
    # The last band is open-ended whatever its bound: only the ones before it are searched. Rounded first, so
    # that a width on a bound is in that band: 3 px at 0.1 mm/px is 0.30000000000000004 mm, not over 0.3.
    return [names[band] for band in np.searchsorted(bounds[:-1], np.round(widths, 9))]


def severity_words(
    mm_per_pixel: float | None = None,
    width_bands: Mapping[str, float] | None = None,
    scales: Mapping[str, float] | None = None,
) -> str:
    """What `measure_cracks`' severity names mean, in words: the bands' bounds with their unit and the scale
    (`mm_per_pixel`, or each photo's from `scales`, {file: mm a pixel}, the others' `mm_per_pixel`). The
    default names are the same with and without a scale, their bounds not: "hairline" is up to 0.3 mm with
    one, up to 1 px without."""
    in_mm = mm_per_pixel is not None or bool(scales)
    names, bounds = _bands(width_bands, in_mm)
    unit = "mm" if in_mm else "px"
    if scales:
        low, high = min(scales.values()), max(scales.values())
        others = f"; others at {mm_per_pixel:g} mm/px" if mm_per_pixel is not None else ""
        span = f"{low:g}" if low == high else f"{low:g} to {high:g}"
        scale = f"at each photo's scale (explain.scales: {span} mm/px{others})"
    else:
        scale = f"at {mm_per_pixel:g} mm/px" if in_mm else "(no scale set: explain.mm_per_pixel)"
    bands = [f"{name} up to {bound:g} {unit}" for name, bound in zip(names[:-1], bounds[:-1], strict=True)]
    bands.append(f"{names[-1]} wider" if bands else f"{names[-1]} at any width")
    return f"severity by a crack's widest width in {unit} {scale}: {', '.join(bands)}"


def image_summary(measurements: pd.DataFrame) -> dict[str, int | float | str | None]:
    """One image's row from its `measure_cracks` table: `count`, `total_length_px`, `max_width_px` (and
    their `_mm` twins when measured), `worst_severity` (the widest crack's band; None without cracks)."""
    summary: dict[str, int | float | str | None] = {"count": len(measurements)}
    for unit in ("px", "mm"):
        if f"length_{unit}" in measurements:
            summary[f"total_length_{unit}"] = float(measurements[f"length_{unit}"].sum())
            summary[f"max_width_{unit}"] = (
                float(measurements[f"max_width_{unit}"].max()) if len(measurements) else 0.0
            )
    widest = measurements["max_width_px"].to_numpy()
    summary["worst_severity"] = measurements["severity"].iloc[int(np.argmax(widest))] if len(widest) else None
    return summary
