"""A survey of many 12-MP photos with the champion (`kedro run --pipelines=survey`, as a user runs it): 20
photos, then 500, each survey in its own process; prints seconds per photo and that process's peak memory
for each. Memory must stay flat: a survey writes photo by photo and keeps nothing per photo, so the 500's
peak is within 10 % of the 20's.

Needs a trained run (`make run`). The photos are synthetic 4032x3024 concrete with 0-3 cracks at patch
scale: `--distinct` of them rendered, the folders filled with links to them under other names (each
photo is read, decoded and explained anew; only rendering is saved). Writes its surveys into a temporary
project folder name under data/07_model_output/surveys/bench-* and removes them after.

    .venv/bin/python bench/survey.py                 # ~1 h on 2 cores
    .venv/bin/python bench/survey.py --sizes 5 40    # a quick look
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from crack_pipeline.vision.data.synthetic import SynthConfig, render_photo
from crack_pipeline.vision.models.precision import describe_cpu

PROJECT = Path(__file__).resolve().parents[1]


def survey(folder: Path, name: str) -> tuple[float, float]:
    """One `kedro run --pipelines=survey` of `folder` in its own process: wall seconds and peak RSS (GB)."""
    with tempfile.TemporaryFile() as errors:  # not a pipe: 64 KiB of tqdm updates (~85 bytes a photo) hung it
        started = time.perf_counter()
        process = subprocess.Popen(
            [
                # `kedro run` by the Python running this bench: a checkout without its own .venv/bin/kedro
                # (a clone, another environment) failed on a FileNotFoundError.
                sys.executable,
                "-m",
                "crack_pipeline",
                "--pipelines=survey",
                "--env=local",  # make run's champion; its surveys land in data/, removed after
                f"--params=explain.input_dir={folder},explain.survey={name}",
            ],
            cwd=PROJECT,
            env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            errors.seek(0)
            raise SystemExit(errors.read().decode()[-3000:])
    return seconds, usage.ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", type=int, nargs=2, default=(20, 500), help="photos in the small and big survey"
    )
    parser.add_argument(
        "--distinct", type=int, default=20, help="photos rendered (the rest are links to them)"
    )
    args = parser.parse_args()
    print(
        f"12-MP synthetic photos; {os.cpu_count()} cores, fp32 or bf16 as explain chooses ({describe_cpu()})"
    )
    with tempfile.TemporaryDirectory() as scratch:
        rendered = Path(scratch) / "rendered"
        rendered.mkdir()
        for index in range(args.distinct):
            photo = render_photo(SynthConfig(seed=11), 3024, 4032, cracks=index % 4, index=index)
            Image.fromarray(photo.image).save(rendered / f"{index}.jpg", quality=92)
        peaks = []
        for count in args.sizes:
            folder = Path(scratch) / f"photos_{count}"
            for index in range(count):
                target = folder / f"span_{index // 50:02d}" / f"IMG_{index:05d}.jpg"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(rendered / f"{index % args.distinct}.jpg")
            name = f"bench-{os.getpid()}-{count}"
            try:
                seconds, peak = survey(folder, name)
            finally:
                shutil.rmtree(PROJECT / "data/07_model_output/surveys" / name, ignore_errors=True)
            peaks.append(peak)
            print(
                f"survey of {count} photos: {seconds:.0f} s, {seconds / count:.2f} s per photo "
                f"(process start and merge included), peak memory {peak:.2f} GB",
                flush=True,
            )
    print(f"ratio {peaks[1] / peaks[0]:.3f} (peak memory of {args.sizes[1]} photos / of {args.sizes[0]})")


if __name__ == "__main__":
    main()
