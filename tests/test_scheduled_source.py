"""The check make runs of a folder it is asked to schedule (SOURCE_DIR), run as make runs it: its errors
thrown away (2>/dev/null), what it prints the refusal (the make-based tests: test_scheduling_environments)."""

from __future__ import annotations

import subprocess
import sys

from crack_pipeline.scheduled_source import source_dir_refusal


def refusal(project, env: str) -> str:
    """What `make schedule SOURCE_DIR=/srv/photos` in environment `env` of `project` reads (stdout only)."""
    command = [sys.executable, "-m", "crack_pipeline.scheduled_source", env, "/srv/photos"]
    return subprocess.run(command, cwd=project, capture_output=True, text=True).stdout


def test_an_environment_whose_settings_cannot_be_read_refuses_the_folder_naming_the_file(kedro_project):
    """A YAML error in conf/<env>/ printed a traceback make threw away: the folder went through unsaid,
    and every scheduled run stopped on the settings."""
    broken = kedro_project / "conf/broken"
    broken.mkdir()
    (broken / "parameters_ingest.yml").write_text("data:\n  sources: [\n    - {domain: a, path: /x}\n")
    said = refusal(kedro_project, "broken")
    assert said.startswith(
        "SOURCE_DIR=/srv/photos: the settings of the environment broken cannot be read (Invalid YAML or JSON "
        f"file {broken / 'parameters_ingest.yml'}, unable to read line 2, position 4.), so whether its runs "
    ), said
    assert said.endswith("correct them (conf/broken/, conf/base/) and schedule again") and "\n" not in said
    # As before: an environment that lists its folders refuses it, one that does not takes it (what the
    # command prints, asked in this process: each command imports MLflow, 4 s).
    assert source_dir_refusal("general", "/srv/photos").startswith(
        "SOURCE_DIR=/srv/photos: the environment general lists"
    )
    assert source_dir_refusal("local", "/srv/photos") == ""
