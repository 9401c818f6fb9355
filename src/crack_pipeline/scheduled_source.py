"""Whether the folder `make schedule` and `make airflow-dag` are given (SOURCE_DIR) can reach the runs they
schedule. Run by make, with the project's Python: prints why not, or nothing."""

from __future__ import annotations

import sys

from crack_pipeline.config import environment_parameters


def source_dir_refusal(env: str, source_dir: str) -> str:
    """Why `source_dir` cannot be the folder of environment `env`'s scheduled retrain, or "": an environment
    whose settings list its folders (data.sources) refuses data.source_dir in every run (ingest's
    sources_of), so the entry installed would have failed every night; one whose settings cannot be read
    (a YAML error in conf/<env>/) is refused too, naming the file and the problem: make discards this
    module's errors (a project not installed yet says so itself when it runs), and let the folder through."""
    try:
        listed = (environment_parameters(env).get("data") or {}).get("sources")
    except Exception as error:  # a YAML error, a setting of the wrong kind: every run would stop on it
        reason = " ".join(str(error).split()) or type(error).__name__
        return (
            f"SOURCE_DIR={source_dir}: the settings of the environment {env} cannot be read ({reason}), so "
            f"whether its runs take the folder is unknown, and every run would stop on them: correct them "
            f"(conf/{env}/, conf/base/) and schedule again"
        )
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
