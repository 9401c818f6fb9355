"""`train.models.<name>.init_from`: training starts from an earlier model of the same architecture."""

import pytest
import torch

from crack_pipeline.pipelines.train.nodes import initial_model
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
        InputError, match=r"train\.models\.sq\.init_from: '3' .* is a small_cnn, but sq is a squeezenet1_1"
    ):
        initial_model(variant, Registry(trained_checkpoint), "sq")
