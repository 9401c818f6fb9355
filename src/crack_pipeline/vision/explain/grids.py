"""The grids of an explanation run (`<method>/grid_9.png`, and `grid_16.png` where there are more than 9): the
first overlays of each class, in turn, so that a split or a folder sorted Negative/ before Positive/ shows
cracks too."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping

import numpy as np

from crack_pipeline.vision import figures
from crack_pipeline.vision.explain import rendering

GRID_SIDE = 512  # overlays in the grids are thumbnails of at most this side
GRID_SIZES = (9, 16)
# Per method, per class (its true label, else its predicted one), the first pictures: (thumbnail, caption).
GridPictures = dict[str, dict[str, list[tuple[np.ndarray, str]]]]


def add_grid_picture(pictures: GridPictures, card: dict, picture: Callable[[], np.ndarray]) -> None:
    """A card's overlay (`picture()`, called only when wanted) among its method's grid pictures of its class,
    while the grids want more of that class."""
    shown = pictures.setdefault(card["method"], {}).setdefault(card["true_label"] or card["predicted"], [])
    if len(shown) < max(GRID_SIZES):
        shown.append((rendering.thumbnail(picture(), GRID_SIDE), grid_caption(card)))


def grid_caption(card: dict) -> str:
    """A grid picture's caption: the file as the gallery and the tables name it (its folder too: by name
    alone day1/IMG_0001.jpg and day2/IMG_0001.jpg read the same), then true label -> predicted label and
    p(crack) (on the side of the threshold it was called at)."""
    truth = card["true_label"] or "?"
    probability = rendering.probability_text(card["probability"], card["threshold"], decimals=2)
    return f"{card['file']}\n{truth} -> {card['predicted']} {probability}"


def grid_files(pictures: Mapping[str, Mapping[str, list[tuple[np.ndarray, str]]]]) -> dict[str, bytes]:
    """Per method its grids of GRID_SIZES pictures, the classes in turn (in name order: a crack first): each
    larger one only where it shows more than the one before (a folder of 9 images or fewer got a grid_16.png
    the same as its grid_9.png)."""
    files = {}
    for method, by_class in pictures.items():
        in_turn = itertools.zip_longest(*(by_class[label] for label in sorted(by_class)))
        ordered = [shown for turn in in_turn for shown in turn if shown is not None]
        # Every picture of the method is here unless a class reached the most a grid shows.
        every = all(len(shown) < max(GRID_SIZES) for shown in by_class.values())
        for count in _grid_sizes(len(ordered)):
            shown = ordered[:count]
            title = f"{method}: {_how_many(len(shown), every and len(ordered) <= count)}, {_order(by_class)}"
            pixels = figures.photo_sheet([p for p, _ in shown], [c for _, c in shown], title)
            pixels = figures.with_colour_bar(pixels, rendering.MIXED_SCALE)
            files[f"{method}/grid_{count}.png"] = rendering.picture_png(pixels)
    return files


def _grid_sizes(pictures: int) -> list[int]:
    """The GRID_SIZES to draw of so many `pictures`: the smallest, and each larger one that shows more."""
    return [GRID_SIZES[0], *(size for before, size in itertools.pairwise(GRID_SIZES) if pictures > before)]


def _how_many(shown: int, every: bool) -> str:
    """A grid's `shown` pictures in words: "first 9 images", or "all 4 images" when they are `every` one (a
    folder of 4 photos was titled "first 9 images"); "the one image" when it is the only one."""
    if not every:
        return f"first {shown} images"
    return "the one image" if shown == 1 else f"all {shown} images"


def _order(by_class: Mapping[str, list]) -> str:
    """How a grid's pictures of `by_class` are ordered, in words: a run of one class said "each class in
    turn", as if the other were there."""
    if len(by_class) == 1:
        return f"all of class {next(iter(by_class))} (no image of another class)"
    return "each class in turn"
