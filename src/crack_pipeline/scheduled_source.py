"""Whether the folder `make schedule` and `make airflow-dag` are given (SOURCE_DIR) can reach the runs they
schedule. Run by make, with the project's Python: prints why not, or nothing."""

from __future__ import annotations

import sys

from crack_pipeline.config import environment_parameters


def source_dir_refusal(env: str, source_dir: str) -> str:
    """Why `source_dir` cannot be the folder of environment `env`'s scheduled retrain, or "": an environment
    whose settings list its folders (data.sources) refuses data.source_dir in every run (ingest's
    sources_of), so the entry installed would have failed every night."""
    listed = (environment_parameters(env).get("data") or {}).get("sources")
    if not listed:
        return ""
    folders = ", ".join(str(entry.get("path")) for entry in listed if isinstance(entry, dict))
    return (
        f"SOURCE_DIR={source_dir}: the environment {env} lists the folders it trains on in data.sources "
        f"({folders}), and its runs refuse data.source_dir, so the scheduled retrain would stop every "
        f"time: add the folder to data.sources in conf/{env}/ (with a domain name) and schedule without "
        "SOURCE_DIR, or schedule an environment without data.sources"
    )


if __name__ == "__main__":
    print(source_dir_refusal(sys.argv[1], sys.argv[2]), end="")
