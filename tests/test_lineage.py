"""Lineage: the static kedro-viz site, opened in headless Chromium, shows the whole flow in layer order."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

# Flags that keep Chromium off this machine's closed network (it otherwise retries Google hosts).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1600,1000",
    "--virtual-time-budget=20000",
]
LAYERS = ["raw", "intermediate", "primary", "model_input", "models", "model_output", "reporting"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("headless Chromium is missing: `make test` installs Debian's chromium package")
    return found


def build_site(project: Path) -> Path:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}
    kedro = Path(sys.executable).with_name("kedro")
    subprocess.run([str(kedro), "viz", "build"], cwd=project, env=env, check=True, capture_output=True)
    return project / "build"


def rendered_page(site: Path, profile: Path, *extra: str) -> str:
    """The DOM of the site's start page after its scripts have run, served over loopback."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        result = subprocess.run(
            [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url],
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        )
    finally:
        server.shutdown()
        server.server_close()
    return result.stdout


def test_kedro_viz_shows_the_flow_from_photos_to_heatmaps_in_layer_order(kedro_project, tmp_path):
    page = rendered_page(build_site(kedro_project), tmp_path / "profile", "--dump-dom")

    shown = set(re.findall(r'class="pipeline-node__text"[^>]*>([^<]+)<', page))
    flow = [
        "synthetic_images",  # raw photos
        "scan_images",
        "image_index",
        "split_images",
        "split_manifest",
        "build_split_tensors",
        "split_tensors",
        "small_cnn",  # a model variant's namespace, holding its checkpoint
        "efficientnet_lite0",
        "compare_variants",
        "champion_decision",
        "explain_split",
        "explanations",  # heatmaps
        "explain_quality",
    ]
    assert set(flow) <= shown, f"missing on the page: {sorted(set(flow) - shown)}"
    layers = re.findall(r'data-id="layer-label--(\w+)"', page)
    assert layers == LAYERS, "layers must run from raw photos down to reports"
