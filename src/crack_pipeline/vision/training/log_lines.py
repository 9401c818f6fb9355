"""Figures as a log line gives them: `name=value` words a user can read and grep, not a Python dict."""

from __future__ import annotations

from typing import Any


def figures_line(figures: dict[str, Any]) -> str:
    """Named figures as a log line gives them, `val_loss=0.6934 val_accuracy=0.5000 lr=3.00e-05` (not a Python
    dict), each value one word (`undefined` where the images hold one class); an epoch's number, which the
    line says before them, left out."""
    return " ".join(f"{name}={_figure(value)}" for name, value in figures.items() if name != "epoch")


def _figure(value: float | None) -> str:
    if value is None:
        return "undefined"
    # A learning rate of 1e-5 read 0.0000 at four decimals.
    return f"{value:.2e}" if 0 < abs(value) < 1e-3 else f"{value:.4f}"
