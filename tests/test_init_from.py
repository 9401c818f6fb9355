"""`train.models.<name>.init_from`: training starts from an earlier model of the same architecture."""

import pytest
import torch

from crack_pipeline.pipelines.train.starting_model import initial_model
from crack_pipeline.vision.errors import InputError


class Registry:
    """The registry as the train node sees it: one lookup, here of one stored checkpoint."""

    def __init__(self, checkpoint):
        self.stored, self.asked = checkpoint, []

    def checkpoint(self, reference, setting):
        self.asked.append((reference, setting))
        return {**self.stored, "model_version": "3"}


def test_training_starts_from_the_named_models_weights(trained_checkpoint):
    learned = torch.tensor([3, 5, 8])
    registry = Registry({**trained_checkpoint, "learned_images": learned})
    variant = {"architecture": "small_cnn", "pretrained": False, "init_from": "champion"}
    model, from_trained, origin, inherited = initial_model(variant, registry, "site_b")
    assert inherited is learned, "the new model has learned from the earlier one's images too"
    assert registry.asked == [("champion", "train.models.site_b.init_from")]
    assert from_trained and model.training
    for name, value in model.state_dict().items():
        assert torch.equal(value, trained_checkpoint["state_dict"][name]), name
    assert origin == {
        "reference": "champion",
        "model_version": "3",
        "variant": trained_checkpoint["variant"],
        "checkpoint_id": trained_checkpoint["checkpoint_id"],
        "input_size": 96,
    }


def test_without_init_from_nothing_is_read_and_the_init_is_random(trained_checkpoint):
    registry = Registry(trained_checkpoint)
    model, from_trained, origin, inherited = initial_model({"architecture": "small_cnn"}, registry, "a")
    assert registry.asked == [] and not from_trained and origin is None and inherited is None
    assert not all(torch.equal(v, trained_checkpoint["state_dict"][k]) for k, v in model.state_dict().items())


def test_another_architecture_is_refused_naming_both(trained_checkpoint):
    variant = {"architecture": "squeezenet1_1", "init_from": 3}
    with pytest.raises(
        InputError,
        match=r"train\.models\.sq\.init_from: '3' .* has architecture small_cnn, "
        r"but variant sq has squeezenet1_1",
    ):
        initial_model(variant, Registry(trained_checkpoint), "sq")


def test_a_variant_starting_from_one_of_the_same_run_trains_after_it(monkeypatch):
    """Kedro's order among variants is free: `b` (init_from: a) started from a's earlier model when it ran
    before `a`. a's checkpoint is now b's input; a variant starting from its own earlier model, or from one
    outside the run, waits for nothing."""
    from crack_pipeline.pipelines.train import pipeline as train_pipeline

    models = {
        "a": {"architecture": "small_cnn"},
        "b": {"architecture": "small_cnn", "init_from": "a"},
        "c": {"architecture": "small_cnn", "init_from": "c"},
        "d": {"architecture": "small_cnn", "init_from": "champion"},
    }
    monkeypatch.setattr(train_pipeline, "project_parameters", lambda: {"train": {"models": models}})
    nodes = {node.name: node for node in train_pipeline.create_pipeline(variants=list(models)).nodes}
    assert "a.checkpoint" in nodes["b.train_variant"].inputs
    order = [node.name for node in train_pipeline.create_pipeline(variants=list(models)).nodes]
    assert order.index("a.train_variant") < order.index("b.train_variant")
    for alone in ("a", "c", "d"):
        assert not any(i.endswith(".checkpoint") for i in nodes[f"{alone}.train_variant"].inputs), alone
    only_b = {node.name: node for node in train_pipeline.create_pipeline(variants=["b"]).nodes}
    assert "a.checkpoint" not in only_b["b.train_variant"].inputs, "a is not trained in this run"


def test_the_registrys_model_must_be_the_one_the_run_trained(trained_checkpoint):
    """Where the run trains the variant named, its registered newest must be that model: unregistered (no
    MLflow run), an older one would be read without a word."""
    variant = {"architecture": "small_cnn", "init_from": "a"}
    registry = Registry(trained_checkpoint)
    this_run = {**trained_checkpoint, "checkpoint_id": "new"}
    with pytest.raises(
        InputError, match=r"init_from: 'a' \(version 3, .*\) is not the a this run trained \(new\)"
    ):
        initial_model(variant, registry, "b", this_run)
    _, from_trained, origin, _ = initial_model(variant, registry, "b", trained_checkpoint)
    assert from_trained and origin["checkpoint_id"] == trained_checkpoint["checkpoint_id"]
