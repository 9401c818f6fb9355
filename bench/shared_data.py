"""Where the benchmarks find the real data sets (ozgenel_dev/, sdnet_walls_dev/, cfd/): `--data DIR`, else the
shared/data folder beside the repository (where the project's own clone has it); one place for every bench, so
a clone placed elsewhere points all of them at the data with the same option."""

from __future__ import annotations

import argparse
from pathlib import Path

BESIDE = Path(__file__).resolve().parents[2] / "shared" / "data"


def add_data_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help=f"the folder of the real data sets (ozgenel_dev/, sdnet_walls_dev/, cfd/); default {BESIDE}",
    )


def data_root(args: argparse.Namespace) -> Path:
    """`--data`, else the shared/data folder beside the repository."""
    return args.data if getattr(args, "data", None) is not None else BESIDE


def require_data(root: Path, *names: str) -> list[Path]:
    """`root / name` for each of `names`, or a usage error before any work (training a champion takes
    minutes) naming each one absent, the folder looked in and the option that points elsewhere."""
    missing = [name for name in names if not (root / name).is_dir()]
    if missing:
        raise SystemExit(
            f"this bench needs {', '.join(missing)} in {root}: absent. Give the folder of the real data sets "
            "with --data DIR"
        )
    return [root / name for name in names]


def optional_data(args: argparse.Namespace, name: str) -> Path | None:
    """`name` of the real data sets when there (the benches that fall back to synthetic images without it);
    one asked for with `--data` and absent is a usage error, not a silent fallback."""
    if args.data is not None:
        return require_data(args.data, name)[0]
    return BESIDE / name if (BESIDE / name).is_dir() else None


def listed_source(path: str, args: argparse.Namespace) -> Path:
    """A folder of an environment's `data.sources` (conf/general's, made absolute from the repository as a run
    there reads it): one in ../shared/data beside the repository read from the real data sets' folder
    (`data_root`) instead."""
    folder = BESIDE.parents[1] / path  # an absolute `path` stays as it is
    return data_root(args) / folder.relative_to(BESIDE) if folder.is_relative_to(BESIDE) else folder
