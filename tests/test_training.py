"""The training loop on tiny synthetic tensors: learning, early stopping, resume, precision, no decoding."""

import dataclasses

import numpy as np
import pytest
import torch

from crack_pipeline.vision import image_io, training
from crack_pipeline.vision.augment import AugmentConfig, augment
from crack_pipeline.vision.models import create_model, get_spec
from crack_pipeline.vision.precision import Precision
from crack_pipeline.vision.synthetic import SynthConfig, render_sample
from crack_pipeline.vision.tensor_cache import ImageTensors
from crack_pipeline.vision.training import TrainConfig, fit, predict_logits

SPEC = get_spec("small_cnn")


def tiny_split(count: int, seed: int, size: int = 64) -> ImageTensors:
    config = SynthConfig(count_per_class=count, image_size=size, seed=seed, difficulty=0.0)
    images, labels = [], []
    for positive in (True, False):
        for index in range(1, count + 1):
            images.append(render_sample(config, positive, index).image.transpose(2, 0, 1))
            labels.append(int(positive))
    return ImageTensors(
        torch.from_numpy(np.stack(images)), torch.tensor(labels), [str(i) for i in range(2 * count)]
    )


@pytest.fixture(scope="module")
def data():
    return tiny_split(48, seed=1), tiny_split(16, seed=2), tiny_split(24, seed=3)


def config(**overrides) -> TrainConfig:
    base = TrainConfig(
        epochs=6,
        batch_size=16,
        lr=3e-3,
        patience=10,
        seed=0,
        precision="fp32",
        progress=False,
        augment=AugmentConfig(translate=4),
    )
    return dataclasses.replace(base, **overrides)


def accuracy(model, split, precision="fp32") -> float:
    logits = predict_logits(model, split.images, SPEC.mean, SPEC.std, Precision(precision))
    return float((logits.argmax(1) == split.labels).float().mean())


def test_small_cnn_learns_the_easy_synthetic_task(data):
    train, val, test = data
    result = fit(create_model("small_cnn"), SPEC, train, val, config())
    assert accuracy(result.model, test) >= 0.9
    assert [row["epoch"] for row in result.history] == list(range(1, 7))
    assert result.best_metrics["val_loss"] == min(row["val_loss"] for row in result.history)
    assert result.train_images_per_second > 0


def test_early_stopping_restores_the_best_weights(data):
    train, val, _ = data
    # A learning rate this high makes validation loss wander: patience 1 stops early.
    result = fit(create_model("small_cnn"), SPEC, train, val, config(lr=0.3, patience=1, epochs=8))
    assert len(result.history) < 8
    best = min(result.history, key=lambda row: row["val_loss"])
    assert result.best_epoch == best["epoch"]
    criterion = torch.nn.CrossEntropyLoss()
    restored = training.evaluate(result.model, val, SPEC, Precision("fp32"), criterion)["loss"]
    assert restored == pytest.approx(best["val_loss"], rel=1e-4)


def test_training_never_decodes_images(data, monkeypatch):
    """Every epoch reads the uint8 tensor cache: decoding is forbidden once it is built."""

    def forbidden(*args, **kwargs):
        raise AssertionError("an image was decoded during training")

    monkeypatch.setattr(image_io, "decode_image", forbidden)
    train, val, _ = data
    fit(create_model("small_cnn"), SPEC, train, val, config(epochs=2))


def test_a_killed_run_resumes_where_it_stopped(data, tmp_path, monkeypatch):
    train, val, _ = data
    torch.manual_seed(5)
    uninterrupted = fit(create_model("small_cnn"), SPEC, train, val, config(epochs=4))

    real_epoch = training.train_one_epoch
    calls = {"n": 0}

    def dies_in_epoch_3(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real_epoch(*args, **kwargs)

    resume = tmp_path / "small_cnn.pt"
    monkeypatch.setattr(training, "train_one_epoch", dies_in_epoch_3)
    torch.manual_seed(5)
    with pytest.raises(KeyboardInterrupt):
        fit(create_model("small_cnn"), SPEC, train, val, config(epochs=4), resume_path=resume)
    assert resume.is_file()
    monkeypatch.setattr(training, "train_one_epoch", real_epoch)
    torch.manual_seed(5)
    resumed = fit(create_model("small_cnn"), SPEC, train, val, config(epochs=4), resume_path=resume)
    assert not resume.exists(), "the resume file is removed once training completes"
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3, 4]
    for a, b in zip(resumed.history, uninterrupted.history, strict=True):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)
    for (name, a), b in zip(
        resumed.model.state_dict().items(), uninterrupted.model.state_dict().values(), strict=True
    ):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), name


def test_resume_file_of_other_settings_is_ignored(data, tmp_path):
    train, val, _ = data
    resume = tmp_path / "state.pt"
    resume.write_bytes(b"not a checkpoint")
    result = fit(create_model("small_cnn"), SPEC, train, val, config(epochs=1), resume_path=resume)
    assert len(result.history) == 1


def test_bf16_reaches_the_accuracy_of_fp32(data):
    train, val, _ = data
    test = tiny_split(100, seed=4)  # 200 images: one point is two images
    scores = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        result = fit(create_model("small_cnn"), SPEC, train, val, config(precision=precision, epochs=10))
        assert result.precision == precision
        scores[precision] = accuracy(result.model, test, precision)
    assert abs(scores["fp32"] - scores["bf16"]) <= 0.01 + 1e-9, scores
    assert scores["fp32"] >= 0.9, "both learned the task"


def test_auto_precision_follows_the_cpu(monkeypatch):
    from crack_pipeline.vision import precision

    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: True)
    assert Precision.resolve("auto").name == "bf16"
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: False)
    assert Precision.resolve("auto").name == "fp32"
    with pytest.raises(ValueError, match="precision"):
        Precision.resolve("fp8")


def test_augment_keeps_shape_and_range_and_flips_exactly():
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    generator = torch.Generator().manual_seed(0)
    out = augment(images, AugmentConfig(hflip=True, translate=0), generator)
    assert out.shape == (8, 3, 32, 32) and float(out.min()) >= 0 and float(out.max()) <= 1
    original = images.float() / 255
    for i in range(8):
        assert torch.equal(out[i], original[i]) or torch.equal(out[i], original[i].flip(2))
    shifted = augment(
        images,
        AugmentConfig(hflip=False, translate=5, rot90=True, brightness=0.1, contrast=0.1),
        torch.Generator().manual_seed(1),
    )
    assert shifted.shape == (8, 3, 32, 32) and float(shifted.max()) <= 1


def test_unknown_training_setting_is_refused():
    with pytest.raises(ValueError, match="unknown training settings"):
        TrainConfig.from_dict({"epochs": 2, "learning_rate": 0.1})
