"""The parameters a run's nodes read, in its MLflow run: each written once (crack_pipeline.mlflow_params)."""

from collections import Counter

import yaml
from kedro.framework.session import KedroSession
from kedro_mlflow.framework.hooks import MlflowHook
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from crack_pipeline.mlflow_params import OncePerRunMlflowHook
from tests.conftest import client_of, kedro, run_session

SMALL = {"synth": {"count_per_class": 6, "image_size": 32, "workers": 1, "seed": 3}}


def test_a_run_writes_each_parameter_its_nodes_read_once_and_all_of_them(kedro_project, monkeypatch):
    """Two ingest nodes read params:ingest, and synth and ingest params:data: kedro-mlflow's own hook wrote
    each of their parameters once per node, one database write each."""
    writes = Counter()
    log_param, log_batch = SqlAlchemyStore.log_param, SqlAlchemyStore.log_batch

    def counted_param(store, run_id, param):
        writes[run_id, param.key] += 1
        return log_param(store, run_id, param)

    def counted_batch(store, run_id, metrics=(), params=(), tags=()):
        writes.update((run_id, param.key) for param in params)
        return log_batch(store, run_id, metrics, params, tags)

    monkeypatch.setattr(SqlAlchemyStore, "log_param", counted_param)
    monkeypatch.setattr(SqlAlchemyStore, "log_batch", counted_batch)
    run_session(kedro_project, SMALL, to_nodes=["plot_sample_grid"])

    (run,) = client_of(kedro_project).search_runs(["1"])  # crack_pipeline's experiment, the store's first
    assert [key for key, count in writes.items() if count > 1] == []
    params = run.data.params
    assert params["synth.count_per_class"] == "6" and params["ingest.workers"] == "1"
    assert params["synth.seed"] == "3", "a run-time value, as the nodes read it"
    assert "data.source_dir" in params and "split.seed" not in params, "what the nodes read, no more"
    assert run.data.tags["runner"] == "SequentialRunner", "not the runner object's repr, new every run"

    with KedroSession.create(project_path=kedro_project) as session:
        hooks = [hook for hook in session._hook_manager.get_plugins() if isinstance(hook, MlflowHook)]
    assert [type(hook) for hook in hooks] == [OncePerRunMlflowHook], "the plugin's own hook is not run too"


def test_a_run_is_reopened_only_in_a_thread_where_it_is_not_active(kedro_project, monkeypatch):
    """kedro-mlflow reopened its run before every node, for the threads of a ThreadRunner: two reads and a
    write of the run each, in the thread where it was active all along too (3 nodes: 9 reads, 7 writes)."""
    from kedro.runner import ThreadRunner

    uses = Counter()
    for name in ("get_run", "update_run_info"):
        original = getattr(SqlAlchemyStore, name)

        def counted(store, run_id, *args, _original=original, **kwargs):
            uses[run_id] += 1
            return _original(store, run_id, *args, **kwargs)

        monkeypatch.setattr(SqlAlchemyStore, name, counted)
    run_session(kedro_project, SMALL, to_nodes=["plot_sample_grid"])  # 3 nodes
    (run,) = client_of(kedro_project).search_runs(["1"])
    assert uses[run.info.run_id] <= 2, "its end, not a reopening per node"
    assert run.info.status == "FINISHED" and run.data.params["ingest.workers"] == "1"

    # A ThreadRunner's threads, where the run is not active, reopen it: their nodes' parameters are in it.
    run_session(kedro_project, SMALL, to_nodes=["plot_sample_grid"], runner=ThreadRunner())
    threaded = client_of(kedro_project).search_runs(["1"], order_by=["attributes.start_time DESC"])[0]
    assert threaded.info.run_id != run.info.run_id and threaded.info.status == "FINISHED"
    assert threaded.data.params["ingest.workers"] == "1" and threaded.data.params["synth.seed"] == "3"


def test_a_run_is_tagged_with_its_runners_name(kedro_project):
    """Kedro's command line gives the runner as its object's repr, new every run, which the plugin's hook made
    the run's `runner` tag: no search could find the runs of one runner."""
    for runner in ("SequentialRunner", "ThreadRunner"):
        tiny = "--params=synth.count_per_class=2,synth.image_size=32,synth.workers=1"
        ran = kedro(kedro_project, "run", f"--runner={runner}", "--nodes=generate_synthetic_images", tiny)
        assert ran.exit_code == 0, ran.output
    runs = client_of(kedro_project).search_runs(["1"], order_by=["attributes.start_time ASC"])
    assert [run.data.tags["runner"] for run in runs] == ["SequentialRunner", "ThreadRunner"]


def test_a_run_not_tracked_leaves_the_last_tracked_run_of_the_process_finished(kedro_project):
    """A notebook (or a test process) ran a tracked pipeline, then one whose tracking mlflow.yml disables
    (`disable_tracking.pipelines`): kedro-mlflow's hook reopened the first run before every node of the second
    and left it running, for ever, in the MLflow UI."""
    run_session(kedro_project, SMALL, pipeline_names=["synth"])
    mlflow_yml = kedro_project / "conf/base/mlflow.yml"
    config = yaml.safe_load(mlflow_yml.read_text())
    config["tracking"]["disable_tracking"]["pipelines"] = ["synth"]
    mlflow_yml.write_text(yaml.safe_dump(config))
    run_session(kedro_project, SMALL, pipeline_names=["synth"])

    (run,) = client_of(kedro_project).search_runs(["1"])
    assert run.info.status == "FINISHED"


def test_a_value_too_long_that_stops_the_run_leaves_the_nodes_shorter_ones_written(kedro_project):
    """With `long_params_strategy: fail` the plugin's hook wrote each parameter before the long one as it
    went; batched, they were lost with the run."""
    mlflow_yml = kedro_project / "conf/base/mlflow.yml"
    mlflow_yml.write_text(
        mlflow_yml.read_text().replace("long_params_strategy: tag", "long_params_strategy: fail")
    )
    ran = kedro(
        kedro_project, "run", "--nodes=generate_synthetic_images", f"--params=data.domain={'x' * 7000}"
    )
    assert ran.exit_code != 0 and "length is 7000" in str(ran.exception) + ran.output
    (run,) = client_of(kedro_project).search_runs(["1"])
    assert run.data.params["synth.count_per_class"], "read by the node before data.domain"


def test_a_failed_run_is_said_closed_once(kedro_project, monkeypatch, caplog):
    """kedro-mlflow re-enters the run before every node (MLflow's stack holds it once per node) and, when a
    run fails, ends the stack's runs one by one: it logged `The run '<id>' was closed because of an error`
    once per node that had run."""
    import logging

    import pytest

    from crack_pipeline.pipelines.ingest import pipeline as ingest_pipeline

    def broken(*args):
        raise RuntimeError("the sample grid broke")

    monkeypatch.setattr(ingest_pipeline, "plot_sample_grid", broken)
    with caplog.at_level(logging.INFO), pytest.raises(RuntimeError, match="the sample grid broke"):
        run_session(kedro_project, SMALL, to_nodes=["plot_sample_grid"])
    closed = [
        record.getMessage() for record in caplog.records if "closed because of an error" in record.message
    ]
    (run,) = client_of(kedro_project).search_runs(["1"])
    assert closed == [f"The run '{run.info.run_id}' was closed because of an error in the pipeline."]
    assert run.info.status == "FAILED"


def test_lines_said_at_every_run_that_carry_nothing_for_the_user_are_left_out(kedro_project, caplog):
    """kedro-mlflow's "Registering new custom resolver: 'km.random_name'" and Kedro's "Using synchronous
    mode for loading and saving data. Use the --async flag ..." at every run;
    the runner's other lines stay."""
    import logging

    with caplog.at_level(logging.INFO):
        run_session(kedro_project, SMALL, node_names=["generate_synthetic_images"])
    said = [record.getMessage() for record in caplog.records]
    assert "Completed 1 out of 1 tasks" in said, said
    assert not [line for line in said if line.startswith(("Registering new custom", "Using synchronous"))]
    runner = logging.getLogger("kedro.runner.sequential_runner")
    with caplog.at_level(logging.INFO):
        runner.warning("Using synchronous mode, warned")
    assert caplog.records[-1].getMessage() == "Using synchronous mode, warned", "a warning is never left out"


def test_a_run_stopped_by_a_user_error_is_not_said_closed_because_of_an_error(
    kedro_project, monkeypatch, caplog
):
    """A bad setting's run said "The run '<id>' was closed because of an error in the pipeline" before the
    message that names the setting: the pipeline had no error. Its MLflow run still ends as failed."""
    import logging

    import pytest

    from crack_pipeline.pipelines.ingest import pipeline as ingest_pipeline
    from crack_pipeline.vision.errors import InputError

    def refused(*args):
        raise InputError("ingest.sample_grid: not a grid")

    monkeypatch.setattr(ingest_pipeline, "plot_sample_grid", refused)
    with caplog.at_level(logging.INFO), pytest.raises(InputError, match="not a grid"):
        run_session(kedro_project, SMALL, to_nodes=["plot_sample_grid"])
    assert not [record for record in caplog.records if "closed because of an error" in record.getMessage()]
    (run,) = client_of(kedro_project).search_runs(["1"])
    assert run.info.status == "FAILED"
