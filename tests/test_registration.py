"""A trained variant's registered model version is tagged as it is registered, not after."""

import contextlib
import logging
import os
import sys
from types import SimpleNamespace

import mlflow

# The module itself: until something uses it, `mlflow.pytorch` is MLflow's lazy loader, which swaps in the
# module as monkeypatch reads `log_model`: the patch went to the loader, and run first (alone, or under -k)
# the tests registered with MLflow's own log_model (10 s each), its prints not the test's.
import mlflow.pytorch
import pytest

from crack_pipeline.tracking import REGISTERED_MODEL, log_variant_run, model_version_tags
from crack_pipeline.vision.models.checkpoint import make_checkpoint
from crack_pipeline.vision.models.registry import create_model
from tests.conftest import new_store


@pytest.fixture
def empty_registry(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MLflow puts the artefacts under the working directory
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(new_store(tmp_path / "mlflow.db"))  # the registry's too (none set apart)
    mlflow.set_experiment("registration")  # not an experiment id an earlier test of the process left active
    yield
    mlflow.set_tracking_uri(previous)


def test_a_variant_is_registered_with_its_tags_at_once(empty_registry, monkeypatch):
    """Tagged one by one after the registration: a run killed between left a version without its variant,
    never promoted (no checkpoint_id), kept by `kedro prune --models` for good (as if registered by hand)."""
    client = mlflow.MlflowClient()

    def registers(model, *, registered_model_name, tags=None, **_):  # as MLflow's log_model registers
        client.create_registered_model(registered_model_name)
        version = client.create_model_version(registered_model_name, os.getcwd(), tags=tags)
        return SimpleNamespace(registered_model_version=version.version)

    def killed(*_):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(mlflow.pytorch, "log_model", registers)
    monkeypatch.setattr(mlflow.MlflowClient, "set_model_version_tag", killed)
    checkpoint = make_checkpoint(
        create_model("small_cnn"),
        variant="small_cnn",
        architecture="small_cnn",
        input_size=32,
        **dict(train_config={}, data_fingerprint="d", split_fingerprint="s", git_commit="c"),
        **dict(best_epoch=1, best_metrics={"val_loss": 0.5}),
    )
    with mlflow.start_run(), contextlib.suppress(KeyboardInterrupt):
        log_variant_run(checkpoint, [])
    (version,) = client.search_model_versions(f"name='{REGISTERED_MODEL}'")
    assert version.tags == model_version_tags(checkpoint)


def test_a_registration_is_said_in_one_line_naming_the_variant_not_in_mlflows_prints(
    empty_registry, monkeypatch, capsys, caplog
):
    """MLflow printed "Registered model 'crack-classifier' already exists. Creating a new version of this
    model..." and "Created version '2' ..." at every variant of every run, on stderr, naming no variant."""

    def registers(
        model, *, registered_model_name, tags=None, **_
    ):  # MLflow's own registration, and its prints
        print("a warning of MLflow's", file=sys.stderr)
        # Said as it is printed, not held back till the export ends (nor lost if the process is killed).
        assert capsys.readouterr().err.count("a warning of MLflow's") == 1
        version = mlflow.register_model(os.getcwd(), registered_model_name, tags=tags)
        return SimpleNamespace(registered_model_version=version.version)

    monkeypatch.setattr(mlflow.pytorch, "log_model", registers)
    caplog.set_level(logging.INFO, logger="crack_pipeline")
    for variant in ("small_cnn", "resnet18"):
        checkpoint = make_checkpoint(
            create_model("small_cnn"),
            variant=variant,
            architecture="small_cnn",
            input_size=32,
            **dict(train_config={}, data_fingerprint="d", split_fingerprint="s", git_commit="c"),
            **dict(best_epoch=1, best_metrics={"val_loss": 0.5}),
        )
        with mlflow.start_run():
            log_variant_run(checkpoint, [])
    printed = capsys.readouterr()
    assert "version" not in printed.err + printed.out, printed
    said = [r.getMessage() for r in caplog.records if "registered" in r.getMessage()]
    assert said == [
        f"train: small_cnn registered as version 1 of model {REGISTERED_MODEL}",
        f"train: resnet18 registered as version 2 of model {REGISTERED_MODEL}",
    ]


def test_registrations_in_two_threads_at_once_leave_stderr_as_it_was(monkeypatch):
    """Two variants registered at once (--runner=ThreadRunner): each block put back the stream it had found,
    the first's buffer, which stayed sys.stderr: every later warning and traceback went nowhere."""
    import threading

    from crack_pipeline.registration_output import without_mlflow_registration_lines

    monkeypatch.setattr(sys, "stderr", sys.stderr)  # put back after the test whatever it leaves
    found = sys.stderr
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

    def first():
        with without_mlflow_registration_lines():
            first_in.set()
            second_in.wait(0.3)  # the second registration begins meanwhile, where it may
        first_out.set()

    def second():
        first_in.wait()
        with without_mlflow_registration_lines():
            second_in.set()
            first_out.wait()

    threads = [threading.Thread(target=registers) for registers in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert sys.stderr is found
