"""What the benchmarks share about their command line and last line: a value a bench cannot use is refused by
argparse (its `type=`, so `--help` names the bound), and a ratio over a baseline of 0 is printed as such."""

from __future__ import annotations

import argparse
import math

from crack_pipeline.vision.data.tile_grid import checked_overlap
from crack_pipeline.vision.models.registry import REGISTRY


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (repeats, epochs), else argparse's usage error."""
    value = int(text)  # a ValueError: argparse's "invalid positive_int value"
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def share(text: str) -> float:
    """An argparse type: a share above 0 and at most 0.5 (of images, as `--new`), else a usage error."""
    value = float(text)
    if not 0 < value <= 0.5:  # math.nan fails this too
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 0.5, got {text}")
    return value


def overlap(text: str) -> float:
    """An argparse type: the share of a tile its neighbour covers too, checked (and its bound explained) as
    the pipelines' `tiling.overlap`."""
    value = float(text)
    try:
        return checked_overlap(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def classifier(text: str) -> str:
    """An argparse type: an architecture of the registry that a bench can train with epochs (not a
    one-class model, fitted in one pass), else a usage error naming them (a typo was a ConfigError after
    the decoding)."""
    classifiers = [name for name, spec in REGISTRY.items() if spec.kind == "supervised"]
    if text not in classifiers:
        raise argparse.ArgumentTypeError(
            f"not a classifier architecture: {text}; choose from {', '.join(classifiers)}"
        )
    return text


def names_among(choices: tuple[str, ...]):
    """An argparse type: a comma-separated list of some of `choices`, else a usage error naming them."""

    def names(text: str) -> tuple[str, ...]:
        given = tuple(name.strip() for name in text.split(",") if name.strip())
        unknown = [name for name in given if name not in choices]
        if unknown or not given:
            raise argparse.ArgumentTypeError(
                f"not among {', '.join(choices)}: {', '.join(unknown) or 'none given'}"
            )
        return given

    return names


def ratio_line(numerator: float, denominator: float, baseline: str, digits: int = 2) -> str:
    """The last line, `ratio <numerator / denominator>`; where the baseline (`baseline` names it) is 0, a
    line saying so and `ratio inf` (or `ratio nan` when both are 0), not a ZeroDivisionError."""
    if denominator != 0:
        return f"ratio {numerator / denominator:.{digits}f}"
    value = math.nan if numerator == 0 else math.inf
    return f"{baseline} is 0: nothing to divide by\nratio {value}"
