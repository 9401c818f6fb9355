"""Scheduling the retrain: `make schedule` (cron) and the Airflow DAG from kedro-airflow."""

from __future__ import annotations

import ast
import os
import py_compile
import shlex
import subprocess
import sys
import types
from pathlib import Path

import pytest
from kedro.framework.cli.utils import _split_params

from tests.conftest import PROJECT_ROOT, kedro

FAKE_CRONTAB = """#!/bin/sh
# crontab -l prints the table, crontab - replaces it: enough of cron's interface for `make schedule`.
table="$CRONTAB_FILE"
case "$1" in
  -l) [ -f "$table" ] && cat "$table" || { echo "no crontab for $USER" >&2; exit 1; } ;;
  -) new=$(mktemp) && cat > "$new" && mv "$new" "$table" ;;  # like cron: replaced once stdin ends
esac
"""


def fake_crontab(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A `crontab` on the PATH that reads and writes the file `table` instead of the user's cron table: the
    table, and the environment that puts it first."""
    (tmp_path / "bin").mkdir()
    crontab = tmp_path / "bin/crontab"
    crontab.write_text(FAKE_CRONTAB)
    crontab.chmod(0o755)
    table = tmp_path / "table"
    return table, {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "CRONTAB_FILE": str(table)}


def create_dag(project: Path, pipeline: str, *options: str):
    """`kedro airflow create` of `pipeline`'s DAG from the project's own template, into `project`/dags."""
    template = PROJECT_ROOT / f"src/crack_pipeline/airflow_{pipeline}_dag.j2"
    return kedro(
        project,
        "airflow",
        "create",
        f"--pipelines={pipeline}",
        "--target-dir=dags",
        f"--jinja-file={template}",
        *options,
    )


def make_schedule(*args: str, env: dict | None = None) -> str:
    result = subprocess.run(
        ["make", "-s", "--no-print-directory", "-C", str(PROJECT_ROOT), "schedule", *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return result.stdout


def make_shown(*args: str, project: Path = PROJECT_ROOT, check: bool = True) -> subprocess.CompletedProcess:
    """`make -n <args>` in `project`: what it would run, or its refusal (`check=False`)."""
    return subprocess.run(
        ["make", "-n", "-s", "--no-print-directory", "-C", str(project), "-o", ".venv/.installed", *args],
        capture_output=True,
        text=True,
        check=check,
    )


def test_make_schedule_prints_a_cron_entry_for_the_retrain_run(tmp_path):
    (line,) = make_schedule(f"SOURCE_DIR={tmp_path}", "CRON_TIME=15 4 * * 1").splitlines()
    assert line.startswith(f'15 4 * * 1 cd "{PROJECT_ROOT}" && ')
    assert f".venv/bin/kedro run --pipelines=retrain \"--params=data.source_dir='{tmp_path}'\" " in line
    assert line.endswith(f"# crack_pipeline retrain {PROJECT_ROOT}")
    assert "prune" not in line, "versions are removed only when asked for"


def test_a_folder_named_with_spaces_reaches_the_nightly_run_and_the_dag_whole(tmp_path):
    """A photo folder on a shared drive ("Bridge photos"): make's abspath split it in two, and the shell
    again, so the cron entry's `kedro run` failed every night on an unexpected extra argument."""
    photos = tmp_path / "Bridge photos"
    (line,) = make_schedule(f"SOURCE_DIR={photos}").splitlines()
    command = shlex.split(line.split(" ", 5)[5])  # after the five time fields: what cron's shell runs
    assert command[:3] == ["cd", str(PROJECT_ROOT), "&&"]
    assert f"--params=data.source_dir='{photos}'" in command
    shown = make_shown("airflow-dag", f"SOURCE_DIR={photos}", f"INPUT_DIR={photos}").stdout
    arguments = shlex.split(shown.replace("\\\n", " "))
    assert f"--params=project_path='{PROJECT_ROOT}',source_dir='{photos}'" in arguments
    survey = f"--params=project_path='{PROJECT_ROOT}',survey='survey',shards=4,input_dir='{photos}'"
    assert survey in arguments


def test_the_dags_project_folder_reaches_them_whole(tmp_path):
    """kedro airflow create reads --params as YAML: a project in '/srv/Pier #3' gave the DAGs the project
    '/srv/Pier' (the rest a comment), one in 'a: b' a mapping."""
    for name in ("Pier #3", "a: b"):
        project = tmp_path / name / "crack_pipeline"
        project.mkdir(parents=True)
        (project / "Makefile").write_bytes((PROJECT_ROOT / "Makefile").read_bytes())
        shown = make_shown("airflow-dag", "SOURCE_DIR=/srv/photos", project=project).stdout
        commands = [shlex.split(line) for line in shown.replace("\\\n", " ").splitlines()]
        assert len(commands) == 2
        for command in commands:
            assert params_of(command)["project_path"] == str(project)


def test_the_survey_dags_survey_name_reaches_it_whole():
    """SURVEY went into the survey DAG's --params bare: "Pier #3" named the survey "Pier", "2024" a number,
    and a comma split the settings."""
    for name in ("Pier #3", "a: b", "2024", "O'Brien St"):
        shown = make_shown("airflow-dag", f"SURVEY={name}").stdout
        survey = [shlex.split(line) for line in shown.replace("\\\n", " ").splitlines()][1]
        assert params_of(survey)["survey"] == name
    refused = make_shown("airflow-dag", "SURVEY=Pier 3, north", check=False)
    assert refused.returncode != 0 and "SURVEY: kedro's --params cannot pass a folder named with a comma" in (
        refused.stderr
    )


def params_of(command: list[str]) -> dict:
    """The settings a `kedro run` command line gives with --params, as Kedro reads them."""
    (given,) = [argument for argument in command if argument.startswith("--params=")]
    return _split_params(None, None, given.removeprefix("--params="))


@pytest.mark.parametrize("name", ["Pier #3", "O'Brien St: deck", "50% overlap"])
def test_a_folder_named_with_yaml_or_cron_characters_reaches_the_nightly_run_whole(tmp_path, name):
    """Kedro reads --params values as YAML: SOURCE_DIR='/srv/Pier #3' made every night's retrain look for
    /srv/Pier (the rest a comment); an apostrophe stopped `make schedule` itself, and cron cut the command at
    a % (the rest given as its input)."""
    table, env = fake_crontab(tmp_path)
    photos = tmp_path / name
    (line,) = make_schedule(f"SOURCE_DIR={photos}", "INSTALL=1", env=env).splitlines()[:1]
    assert table.read_text() == f"{line}\n", "installed as printed"
    assert "%" not in line.replace("\\%", ""), "every % escaped for cron"
    command = shlex.split(line.replace("\\%", "%").split(" ", 5)[5])  # what cron's shell runs
    assert params_of(command) == {"data": {"source_dir": str(photos)}}


def test_make_schedule_refuses_a_folder_named_with_a_comma(tmp_path):
    """Kedro splits --params at every comma: the nightly run failed on 'Item ` b` must contain a key'."""
    with pytest.raises(subprocess.CalledProcessError) as refused:
        make_schedule(f"SOURCE_DIR={tmp_path / 'Pier 3, north'}")
    assert "SOURCE_DIR: kedro's --params cannot pass a folder named with a comma" in refused.value.stderr


@pytest.mark.parametrize("name", ['Pier "3"', "Pier $3", "Pier `3`", "Pier 3, north"])
@pytest.mark.parametrize("target", ["schedule", "airflow-dag"])
def test_a_folder_that_cannot_reach_the_command_whole_is_refused_naming_the_setting(tmp_path, name, target):
    """make expanded a $ (SOURCE_DIR='/srv/Pier $3' scheduled /srv/Pier ), and the shell read ", ` inside the
    double quotes the commands give the folder (a backquoted name ran as a command every night); the DAG's
    --params split at a comma. Refused, before anything is run or written (with -n too), as a comma was."""
    given = ["SOURCE_DIR", "INPUT_DIR"] if target == "airflow-dag" else ["SOURCE_DIR"]
    for setting in given:
        result = make_shown(target, f"{setting}={tmp_path / name}", check=False)
        assert result.returncode != 0, result.stdout
        assert f"{setting}: " in result.stderr and "cannot pass a folder named with" in result.stderr


def test_make_airflow_dag_refuses_a_shard_count_that_is_no_whole_number():
    """The survey DAG's template reads SHARDS as a number: SHARDS=x (or 0) wrote a DAG of no shard tasks,
    whose merge found no photo explained, without a word."""
    for shards in ("x", "0", "4 4", ""):
        result = make_shown("airflow-dag", f"SHARDS={shards}", check=False)
        assert result.returncode != 0, result.stdout
        assert f"SHARDS must be a whole number of at least 1, not '{shards}'" in result.stderr


def test_make_schedule_refuses_a_keep_that_would_fail_every_night():
    for keep in ("0", "1x0", "-3"):
        with pytest.raises(subprocess.CalledProcessError) as refused:
            make_schedule(f"KEEP={keep}")
        assert f"KEEP must be a whole number of at least 1, not '{keep}'" in refused.value.stderr


# What cron takes: numbers in each field's range, month and weekday names, *, lists, ranges, steps, @ words.
CRON_TIMES_TAKEN = (
    "@daily",
    "30 3 * * mon-fri",
    "*/15 * * * *",
    "0 2 * * 7",
    "00 02 1,15 * *",
    "0-30/10 */2 * * *",
    "0 2 * JAN,jul sun,Sat",
    "0 2 * * 1-5/2",
    "59 23 31 12 0",
    "0 2 * feb-apr mon-7",
)
# ... and what it refuses (or misreads), with the reason said after the usual sentence.
CRON_TIMES_REFUSED = {
    "0 2 * * foo": "'foo' is no weekday (0-7 or sun-sat)",
    "0 2 * * 8": "'8' is no weekday (0-7 or sun-sat)",
    "60 2 * * *": "'60' is no minute (0-59)",
    "0 24 * * *": "'24' is no hour (0-23)",
    "0 2 0 * *": "'0' is no day of month (1-31)",
    "0 2 * 13 *": "'13' is no month (1-12 or jan-dec)",
    "0 2 mon * *": "'mon' is no day of month (1-31)",
    "0 2 * * monday": "'monday' is no weekday (0-7 or sun-sat)",
    "*/0 * * * *": "'*/0': the step '0' is no whole number of at least 1",
    "5/10 * * * *": "'5/10': a step follows * or a range (cron takes '5-59/10')",
    "5-2 * * * *": "the minute range '5-2' runs downwards",
    "0 2 ,1 * *": "'' is no day of month (1-31)",
    "0 2 L * *": "'L' is no day of month (1-31)",
    "0 2 * * ;": "';' is no weekday (0-7 or sun-sat)",
    "0 2 29-1 feb *": "the day of month range '29-1' runs downwards",
}


def test_a_cron_time_is_checked_field_by_field_as_cron_reads_it():
    """'0 2 * * foo' passed a check of characters alone, and cron drops such a line without a word."""
    from crack_pipeline.cron_time import check_cron_time

    for time in CRON_TIMES_TAKEN:
        assert check_cron_time(time)[0] is None, time
    for time, reason in CRON_TIMES_REFUSED.items():
        assert check_cron_time(time)[0] == (
            "CRON_TIME must be cron's five fields (minute hour day month weekday, e.g. '30 3 * * 1') or one "
            f"of its @ words (@daily), not '{time}': {reason}"
        )
    for time in ("0 2 * *", "0 2 * * * *", "@dayly", ""):
        assert check_cron_time(time)[0].endswith(f"not '{time}'")


# Days cron takes that never occur (the weekday begins with *: cron runs on days both day fields name), and
# the most days their months have; then days that do occur, the weekday named (cron runs on either day then).
CRON_DAYS_NEVER = {"0 2 31 2 *": 29, "0 2 30-31 feb *": 29, "0 2 31 4,6 *": 30, "0 2 31 feb-apr/2 *": 30}
CRON_DAYS_OCCURRING = ("0 2 31 2 mon", "0 2 31 2 1-5", "0 2 31 4,7 *", "0 2 */31 2 *", "0 2 28-31 feb *")


def cron_time_script(time: str) -> subprocess.CompletedProcess:
    """src/crack_pipeline/cron_time.py run on `time` as `make schedule` runs it, with the system's python3."""
    script = PROJECT_ROOT / "src/crack_pipeline/cron_time.py"
    return subprocess.run(["python3", str(script), time], capture_output=True, text=True, check=False)


def test_a_cron_time_on_a_day_that_never_occurs_is_refused():
    """'0 2 31 2 *' (31 February) passed: cron takes it and never runs it: a retrain that never ran."""
    from crack_pipeline.cron_time import check_cron_time

    for time, days in {**CRON_DAYS_NEVER, "0 2 31 2 */2": 29}.items():
        day, month, weekday = time.split()[2:]
        refusal = (
            f"CRON_TIME must name a day that occurs, not '{time}': day of month '{day}' never falls in month "
            f"'{month}' ({days} days at most), and weekday '{weekday}' adds none: cron would never run it"
        )
        assert check_cron_time(time)[0] == refusal
    for time in CRON_DAYS_OCCURRING:
        assert check_cron_time(time)[0] is None, time
    refused = cron_time_script("0 2 31 2 *")
    assert (refused.returncode, refused.stdout) == (1, "")
    assert "not '0 2 31 2 *': day of month '31' never falls in month '2'" in refused.stderr


def test_a_cron_time_on_29_february_alone_is_taken_with_a_warning():
    """It runs in leap years: cron takes it, so it is printed, but once in four years is seldom meant."""
    taken = cron_time_script("0 2 29 2 *")
    assert taken.returncode == 0
    assert taken.stderr == (
        "warning: CRON_TIME '0 2 29 2 *' runs in leap years alone (day of month '29' falls in month '2' on "
        "29 February only): the retrain runs once in four years\n"
    )
    for time in (*CRON_DAYS_OCCURRING, *CRON_TIMES_TAKEN):
        assert cron_time_script(time).stderr == "", time


def test_the_check_script_reads_a_cron_time_once(monkeypatch, capsys):
    """Its warning checked the time all over again (every field, then the days it runs) before it looked
    for a leap day."""
    from crack_pipeline import cron_time

    read = []
    for name in ("_field_problem", "_days_it_runs"):
        original = getattr(cron_time, name)
        monkeypatch.setattr(cron_time, name, lambda *args, f=original, n=name: read.append(n) or f(*args))
    assert cron_time.main(["0", "2", "29", "2", "*"]) == 0
    assert "warning: CRON_TIME '0 2 29 2 *' runs in leap years alone" in capsys.readouterr().err
    assert read == ["_field_problem"] * 5 + ["_days_it_runs"]


def test_the_check_script_refuses_a_bad_day_or_month_field_in_words_not_with_a_traceback():
    """The script looked for a day that never occurs before it checked the fields: `0 2 L * *` or
    `0 2 mon * *` ended in a Python traceback (TypeError) where the refusal was due."""
    from crack_pipeline.cron_time import check_cron_time

    for time, reason in CRON_TIMES_REFUSED.items():
        refused = cron_time_script(time)
        assert (refused.returncode, refused.stdout) == (1, ""), time
        assert refused.stderr.endswith(f"not '{time}': {reason}\n"), refused.stderr
        assert check_cron_time(time)[1] is None, time


def test_make_schedule_refuses_a_cron_time_cron_would_misread():
    """'0 2 * *' (a field short) printed an entry whose command cron would read from '* cd'; '0 2 * * foo',
    one cron drops."""
    for time in ("0 2 * *", "0 2 * * * *", "@dayly", "0 2 * * ;", "0 2 * * foo", "*/0 * * * *", "0 24 * * *"):
        with pytest.raises(subprocess.CalledProcessError) as refused:
            make_schedule(f"CRON_TIME={time}")
        assert "CRON_TIME must be cron's five fields" in refused.value.stderr
        assert f"not '{time}'" in refused.value.stderr
        assert not refused.value.stdout, "no entry printed"
    for time in CRON_TIMES_TAKEN:
        assert make_schedule(f"CRON_TIME={time}").startswith(f"{time} cd ")


def test_make_schedule_keep_prunes_old_versions_after_a_run_that_ended_well():
    (line,) = make_schedule("KEEP=10").splitlines()
    retrain, prune = line.split(" && KEDRO_DISABLE_TELEMETRY=1 .venv/bin/kedro prune ")
    assert retrain.endswith("--pipelines=retrain >>logs/retrain/cron.out 2>&1")
    assert prune.startswith("--keep 10 --models --yes >>logs/retrain/cron.out 2>&1 # crack_pipeline retrain ")


def test_make_schedule_install_replaces_its_own_entry_and_keeps_the_others(tmp_path):
    table, env = fake_crontab(tmp_path)
    table.write_text("0 * * * * backup.sh\n")

    make_schedule("INSTALL=1", "CRON_TIME=0 1 * * *", env=env)
    make_schedule("INSTALL=1", "CRON_TIME=0 5 * * *", env=env)

    lines = table.read_text().splitlines()
    assert lines[0] == "0 * * * * backup.sh"
    (ours,) = lines[1:]
    assert ours.startswith("0 5 * * * ") and "--pipelines=retrain" in ours


def test_kedro_airflow_makes_a_dag_that_runs_retrain_as_one_task(kedro_project):
    """A folder named with &, an apostrophe or # reaches the DAG whole: the template's HTML escaping made
    "Smith & Sons" "Smith &amp; Sons" (as `make airflow-dag` quotes it for Kedro's YAML, as here)."""
    photos = "/srv/Smith & O'Brien #2"
    quoted = photos.replace("'", "''")
    result = create_dag(
        kedro_project, "retrain", f"--params=project_path={kedro_project},source_dir='{quoted}'"
    )
    assert result.exit_code == 0, result.output
    dag = kedro_project / "dags/crack_pipeline_retrain_dag.py"
    py_compile.compile(str(dag), doraise=True)
    source = dag.read_text()
    assert 'schedule="0 2 * * *"' in source, "conf/base/airflow.yml's schedule"
    assigned = {
        node.targets[0].id: node.value for node in ast.parse(source).body if isinstance(node, ast.Assign)
    }
    assert ast.literal_eval(assigned["source_dir"]) == photos
    assert ast.literal_eval(assigned["project_path"].args[0]) == str(kedro_project)
    assert source.count("@task(") == 1
    assert "session.run(pipeline_names=[pipeline_name], runner=SequentialRunner())" in source


class FakeTask:
    """Enough of an Airflow task for a DAG file to be built: what is mapped, and what runs after what."""

    def __init__(self, function, task_id, registry):
        self.function, self.task_id, self.registry = function, task_id, registry
        self.mapped, self.downstream = None, []

    def expand(self, **mapped):
        self.mapped = mapped
        self.registry.append(self)
        return self

    def __call__(self):
        self.registry.append(self)
        return self

    def __rshift__(self, other):
        self.downstream.append(other)
        return other


def fake_airflow_sdk(registry: list) -> types.ModuleType:
    sdk = types.ModuleType("airflow.sdk")
    sdk.dag = lambda **settings: lambda build: lambda: (registry.append(settings), build())
    sdk.task = lambda task_id: lambda function: FakeTask(function, task_id, registry)
    return sdk


def test_the_survey_dag_maps_one_task_per_shard_then_merges(kedro_project, monkeypatch):
    result = create_dag(
        kedro_project,
        "survey",
        f"--params=project_path={kedro_project},survey=bridge,shards=3,input_dir=/srv/photos",
    )
    assert result.exit_code == 0, result.output
    dag = kedro_project / "dags/crack_pipeline_survey_dag.py"
    py_compile.compile(str(dag), doraise=True)
    registry: list = []
    monkeypatch.setitem(sys.modules, "airflow", types.ModuleType("airflow"))
    monkeypatch.setitem(sys.modules, "airflow.sdk", fake_airflow_sdk(registry))
    namespace: dict = {"__name__": "survey_dag"}
    exec(compile(dag.read_text(), str(dag), "exec"), namespace)
    settings, *tasks = registry
    by_id = {task.task_id: task for task in tasks}
    segmenter_task, shard_task, merge_task = (
        by_id[i] for i in ("crack_segmenter", "explain_shard", "merge_shards")
    )
    assert settings["schedule"] is None and settings["default_args"]["retries"] == 2, "conf/base/airflow.yml"
    assert segmenter_task.downstream == [shard_task], "the crack segmenter first, one for every shard"
    assert shard_task.mapped == {"shard": ["0/3", "1/3", "2/3"]} and shard_task.downstream == [merge_task]
    # Each task runs its pipeline (its node of the survey pipeline) on the survey's folder and its shard.
    calls = []
    namespace["run"] = lambda pipeline, nodes=None, **explain: calls.append((pipeline, nodes, explain))
    segmenter_task.function()
    shard_task.function("1/3")
    merge_task.function()
    assert calls == [
        ("segmenter", None, {}),
        ("survey", ["explain_survey_photos"], {"shard": "1/3"}),
        ("survey", ["merge_survey"], {}),
    ]
    assert namespace["survey"] == "bridge" and namespace["input_dir"] == "/srv/photos"


def test_make_schedule_install_keeps_the_entry_of_a_project_whose_folder_begins_with_this_one_s(tmp_path):
    """Two clones side by side (crack_pipeline, crack_pipeline_bridges): installing one's schedule removed the
    other's nightly retrain, whose tag holds this one's as a prefix."""
    table, env = fake_crontab(tmp_path)
    sibling = f"0 3 * * * retrain # crack_pipeline retrain {PROJECT_ROOT}_bridges"
    table.write_text(f"{sibling}\n")

    make_schedule("INSTALL=1", env=env)
    make_schedule("INSTALL=1", env=env)

    first, ours = table.read_text().splitlines()
    assert first == sibling
    assert ours.endswith(f"# crack_pipeline retrain {PROJECT_ROOT}")


def test_the_dags_tasks_run_in_the_project_with_a_runner_kedro_viz_tracks(
    kedro_project, monkeypatch, tmp_path
):
    """Airflow starts a task in a folder of its own and the DAGs ran `session.run` with no runner: every task
    logged kedro-viz's "Workflow tracking is disabled for non-sequential runners" (or "No Kedro project found
    in <that folder>"), and `kedro viz` never saw the run's events."""
    from kedro.framework import project as kedro_project_module
    from kedro.framework import session as kedro_session
    from kedro_viz.integrations.kedro.hooks_utils import is_sequential_runner

    runs = []

    class FakeSession:
        @classmethod
        def create(cls, **settings):
            return cls()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def run(self, runner=None, **selected):
            # As Kedro's session hands the runner to kedro-viz's hooks (run_params["runner"]).
            runs.append(
                (Path.cwd(), is_sequential_runner({"runner": getattr(runner, "__name__", str(runner))}))
            )

    for pipeline in ("retrain", "survey"):
        assert create_dag(kedro_project, pipeline, f"--params=project_path={kedro_project}").exit_code == 0
    monkeypatch.setattr(kedro_session, "KedroSession", FakeSession)
    monkeypatch.setattr(kedro_project_module, "configure_project", lambda name: None)
    monkeypatch.setitem(sys.modules, "airflow", types.ModuleType("airflow"))
    monkeypatch.setitem(
        sys.modules, "airflow.exceptions", types.SimpleNamespace(AirflowSkipException=Exception)
    )
    for pipeline in ("retrain", "survey"):
        registry: list = []
        monkeypatch.setitem(sys.modules, "airflow.sdk", fake_airflow_sdk(registry))
        dag = kedro_project / f"dags/crack_pipeline_{pipeline}_dag.py"
        exec(compile(dag.read_text(), str(dag), "exec"), {"__name__": f"{pipeline}_dag"})
        tasks = {task.task_id: task.function for task in registry[1:]}
        monkeypatch.chdir(tmp_path)  # the Airflow worker's folder
        if pipeline == "retrain":
            tasks["retrain"]()
        else:
            tasks["crack_segmenter"](), tasks["explain_shard"]("0/4"), tasks["merge_shards"]()
        # Under `dag.test()` (one process) a task's os.chdir left the test in the project's folder.
        assert Path.cwd() == tmp_path, "back in the worker's folder after its tasks"
    assert runs == [(kedro_project, True)] * 4
