"""The training loop on tiny synthetic tensors: learning, early stopping, resume, precision, no decoding."""

import copy
import dataclasses
import logging

import numpy as np
import pytest
import torch

from crack_pipeline.run_guard import RunInterrupted
from crack_pipeline.vision.data import image_io, ingested
from crack_pipeline.vision.data.tensor_cache import ImageTensors
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.models.inference import (
    crack_probabilities,
    crack_probabilities_and_features,
    fold_batch_norms,
)
from crack_pipeline.vision.models.precision import Precision
from crack_pipeline.vision.settings import ConfigError, settings_from
from crack_pipeline.vision.training import loop as training
from crack_pipeline.vision.training.config import TrainConfig
from crack_pipeline.vision.training.divergence import TrainingDiverged
from crack_pipeline.vision.training.loop import fit
from crack_pipeline.vision.training.replicas import Randomness, Replicas
from crack_pipeline.vision.training.resume import continue_draws
from crack_pipeline.vision.training.schedule import epoch_order
from tests.conftest import needs_gpu
from tests.tiny_training import SPEC, accuracy, config, seeded_model, tiny_split


@pytest.fixture(scope="module")
def data():
    return tiny_split(48, seed=1), tiny_split(16, seed=2), tiny_split(24, seed=3)


def test_small_cnn_learns_the_easy_synthetic_task(data):
    train, val, test = data
    result = fit(seeded_model(), SPEC, train, val, config())
    assert accuracy(result.model, test) >= 0.9
    assert [row["epoch"] for row in result.history] == list(range(1, 7))
    assert result.best_metrics["val_loss"] == min(row["val_loss"] for row in result.history)
    assert result.train_images_per_second > 0


def test_one_cycle_warms_up_to_the_learning_rate_then_anneals(data):
    train, val, _ = data
    result = fit(seeded_model(), SPEC, train, val, config(epochs=4, schedule="onecycle", warmup=0.5, lr=0.01))
    rates = [row["lr"] for row in result.history]
    # The peak is reached on the last step of epoch 2; the rate logged at its end is one step past it.
    assert rates[0] < rates[1] == pytest.approx(0.01, rel=0.05), "up to lr at the end of the warm-up half"
    assert rates[1] > rates[2] > rates[3] and rates[3] < 0.05 * 0.01, (
        "then annealed to a few hundredths of it"
    )
    constant = fit(seeded_model(), SPEC, train, val, config(epochs=2, lr=0.01))
    assert [row["lr"] for row in constant.history] == [0.01, 0.01]


def test_a_frozen_trained_backbone_keeps_its_batch_norm_statistics_till_it_trains(data):
    """Frozen means its running statistics too, where they were learned (a pretrained model): in train mode
    they followed the augmented batches while the weights stood still, and the head learned on features
    evaluation never saw. A backbone from scratch learns them from the first epoch."""
    train, val, _ = data

    def statistics(model) -> list[torch.Tensor]:
        norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        return [s.clone() for m in norms for s in (m.running_mean, m.running_var)]

    after_epoch, heads = {}, {}

    def observe(model, epoch) -> dict:
        after_epoch[epoch] = statistics(model)
        heads[epoch] = copy.deepcopy(model.get_submodule(SPEC.head).state_dict())
        return {}

    before = statistics(seeded_model())
    head_before = seeded_model().get_submodule(SPEC.head).state_dict()
    settings = config(epochs=2, freeze_backbone_epochs=1)
    fit(seeded_model(), SPEC, train, val, settings, pretrained=True, observe_epoch=observe)
    assert before and all(torch.equal(a, b) for a, b in zip(before, after_epoch[1], strict=True))
    assert any(not torch.equal(heads[1][k], head_before[k]) for k in head_before), "the head trained"
    assert not any(torch.equal(a, b) for a, b in zip(before, after_epoch[2], strict=True)), "then all"
    fit(seeded_model(), SPEC, train, val, config(epochs=1, freeze_backbone_epochs=1), observe_epoch=observe)
    assert not any(torch.equal(a, b) for a, b in zip(before, after_epoch[1], strict=True)), "from scratch"


def test_a_frozen_backbone_holds_its_batch_norms_without_weights_too(data):
    """A batch norm with no weights to freeze (affine=False) is the backbone's all the same: its running
    statistics stand still while the backbone is frozen (they followed each augmented batch)."""
    train, val, _ = data
    model = seeded_model()
    model.features[5] = torch.nn.BatchNorm2d(64, affine=False, momentum=0.3)
    norm = model.features[5]
    before = norm.running_mean.clone()
    seen = {}
    fit(
        model,
        SPEC,
        train,
        val,
        config(epochs=1, freeze_backbone_epochs=1),
        pretrained=True,
        observe_epoch=lambda model, epoch: seen.update({epoch: norm.running_mean.clone()}) or {},
    )
    assert torch.equal(seen[1], before), "held while the backbone was frozen"


def test_early_stopping_restores_the_best_weights(data):
    train, val, _ = data
    # A learning rate this high makes validation loss wander: patience 1 stops early.
    result = fit(seeded_model(), SPEC, train, val, config(lr=0.3, patience=1, epochs=8))
    assert len(result.history) < 8
    best = min(result.history, key=lambda row: row["val_loss"])
    assert result.best_epoch == best["epoch"]
    criterion = torch.nn.CrossEntropyLoss()
    restored = training.evaluate(result.model, val, SPEC, Precision("fp32"), criterion)["loss"]
    assert restored == pytest.approx(best["val_loss"], rel=1e-4)


def test_min_steps_raises_the_epochs_and_holds_early_stopping_till_they_are_done(data, caplog, monkeypatch):
    """A few labelled images are a few steps an epoch: counted in epochs, a fine-tuning on them moved the
    network a handful of steps, and early stopping could end it sooner still."""
    train, val, _ = data  # 96 images in batches of 16: 6 steps an epoch
    with caplog.at_level(logging.INFO, logger="crack_pipeline.vision.training.schedule"):
        cycle = fit(seeded_model(), SPEC, train, val, config(epochs=1, min_steps=20, schedule="onecycle"))
    assert [row["epoch"] for row in cycle.history] == [1, 2, 3, 4], "ceil(20 / 6) epochs"
    assert cycle.epochs_trained == 4, "what the comparison table shows, where it showed the configured 1"
    assert cycle.history[-1]["lr"] < 0.01 * 3e-3, "one cycle over all of them, run to its end"
    assert "small_cnn: 4 epochs of 6 steps, for min_steps 20 (epochs 1 gave 6 steps)" in caplog.text
    # Validation loss worse after every epoch: patience 1 stops at the start of the third...
    losses = iter(range(1, 100))
    monkeypatch.setattr(training, "evaluate", lambda *_: {"loss": float(next(losses)), "accuracy": 0.5})
    worsening = config(patience=1, epochs=8)
    stopped = fit(seeded_model(), SPEC, train, val, worsening)
    assert [row["epoch"] for row in stopped.history] == [1, 2] and stopped.epochs_trained == 2
    # ...but not before its min_steps (36: 6 epochs), and it stops once they are done.
    held = fit(seeded_model(), SPEC, train, val, dataclasses.replace(worsening, min_steps=36))
    assert [row["epoch"] for row in held.history] == [1, 2, 3, 4, 5, 6]
    assert held.best_epoch == 1


def test_a_run_that_diverges_in_every_epoch_fails_instead_of_returning_its_starting_weights(data):
    train, val, _ = data
    # A learning rate no model survives: every epoch's validation loss is NaN, none beats the start's.
    with pytest.raises(TrainingDiverged, match="diverged.*lower the learning rate"):
        fit(seeded_model(), SPEC, train, val, config(lr=1e20, epochs=2))


def test_an_empty_validation_split_is_refused_before_training(data):
    """No epoch's loss beats the starting weights' on no images: they came back as if trained."""
    empty = ImageTensors(
        torch.empty((0, 3, 64, 64), dtype=torch.uint8), torch.empty(0, dtype=torch.int64), []
    )
    with pytest.raises(InputError, match=r"^small_cnn: the validation split is empty.*split\.ratios\.val"):
        fit(seeded_model(), SPEC, data[0], empty, config(epochs=1))


def test_training_never_decodes_images(data, monkeypatch):
    """Every epoch reads the uint8 tensor cache: decoding is forbidden once it is built."""

    def forbidden(*args, **kwargs):
        raise AssertionError("an image was decoded during training")

    for module in (image_io, ingested):
        monkeypatch.setattr(module, "decode_image", forbidden)
    train, val, _ = data
    fit(seeded_model(), SPEC, train, val, config(epochs=2))


def killed_in_epoch_3(monkeypatch, run) -> None:
    """`run()` (a training) killed in its third epoch, as by Ctrl-C; training works again afterwards."""
    real_epoch = training.train_one_epoch
    calls = {"n": 0}

    def dies_in_epoch_3(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(training, "train_one_epoch", dies_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        run()
    monkeypatch.setattr(training, "train_one_epoch", real_epoch)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=needs_gpu)])
@pytest.mark.parametrize("schedule", ["constant", "onecycle"])
def test_a_killed_run_resumes_where_it_stopped(data, tmp_path, monkeypatch, schedule, device):
    """Weights, schedule and the random draws (image order, augmentations, dropout: on a GPU, its own
    generator's) go on as if never stopped."""
    train, val, _ = data
    settings = config(epochs=4, schedule=schedule)
    uninterrupted = fit(seeded_model(5), SPEC, train, val, settings, device=device)

    resume = tmp_path / "small_cnn.pt"
    killed_in_epoch_3(
        monkeypatch,
        lambda: fit(seeded_model(5), SPEC, train, val, settings, resume_path=resume, device=device),
    )
    assert resume.is_file()
    resumed = fit(seeded_model(5), SPEC, train, val, settings, resume_path=resume, device=device)
    assert not resume.exists(), "the resume file is removed once training completes"
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3, 4]
    for a, b in zip(resumed.history, uninterrupted.history, strict=True):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)
        assert a["lr"] == pytest.approx(b["lr"], rel=1e-9), "the schedule goes on where it stopped"
    for (name, a), b in zip(
        resumed.model.state_dict().items(), uninterrupted.model.state_dict().values(), strict=True
    ):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), name


def test_each_replica_resumes_its_own_augmentation_and_dropout_draws():
    """What a resume state keeps of a run of 2 replicas (the first one gathers them all): each replica's
    augmentation and dropout draws, which it continues from, not from its seed."""
    runs = [Randomness.seeded(0, Replicas(rank, 2)) for rank in range(2)]
    saved = []
    for run in runs:
        torch.rand(5, generator=run.augment), torch.rand(3)  # an epoch's draws
        saved.append({"augment": run.augment.get_state(), "torch_rng": torch.get_rng_state()})
        torch.rand(3)  # the other replica's process draws its own
    state = {"generator": runs[0].order.get_state(), "replica_draws": saved}
    for rank, run in enumerate(runs):
        expected_augment = torch.rand(4, generator=run.augment)
        torch.set_rng_state(saved[rank]["torch_rng"])
        expected_dropout = torch.rand(2)
        resumed = Randomness.seeded(0, Replicas(rank, 2))
        continue_draws(state, resumed, Replicas(rank, 2), torch.device("cpu"))
        assert torch.equal(torch.rand(4, generator=resumed.augment), expected_augment)
        assert torch.equal(torch.rand(2), expected_dropout)


def test_a_resume_file_of_other_settings_or_unreadable_is_ignored(data, tmp_path, monkeypatch):
    train, val, _ = data
    resume = tmp_path / "state.pt"
    killed_in_epoch_3(
        monkeypatch, lambda: fit(seeded_model(), SPEC, train, val, config(epochs=4), resume_path=resume)
    )
    assert resume.is_file()
    other = fit(seeded_model(), SPEC, train, val, config(epochs=4, lr=0.01), resume_path=resume)
    assert [(row["epoch"], row["lr"]) for row in other.history] == [(e, 0.01) for e in (1, 2, 3, 4)], (
        "another learning rate: trained from the start, not on from the other run's epoch 2"
    )
    resume.write_bytes(b"not a checkpoint")
    result = fit(seeded_model(), SPEC, train, val, config(epochs=1), resume_path=resume)
    assert len(result.history) == 1


def test_a_kept_resume_state_returns_the_trained_model_again_without_training(data, tmp_path):
    """Kept until the caller has saved the model (a save that fails on a full disk loses no training)."""
    train, val, _ = data
    resume = tmp_path / "state.pt"
    first = fit(
        seeded_model(), SPEC, train, val, config(epochs=3), resume_path=resume, keep_resume_state=True
    )
    assert resume.is_file()
    epochs = []
    again = fit(
        *(seeded_model(), SPEC, train, val, config(epochs=3)),
        resume_path=resume,
        keep_resume_state=True,
        after_epoch=lambda model, epoch: epochs.append(epoch) or False,
    )
    assert epochs == [], "no epoch trained again"
    assert again.history == first.history and again.best_epoch == first.best_epoch
    trained, returned = first.model.state_dict(), again.model.state_dict()
    assert [name for name in trained if not torch.equal(trained[name], returned[name])] == []
    other_start = fit(
        *(seeded_model(6), SPEC, train, val, config(epochs=3)),  # e.g. pretrained now, or another init_from
        resume_path=resume,
        after_epoch=lambda model, epoch: epochs.append(epoch) or False,
    )
    assert epochs == [1, 2, 3] and other_start.history != first.history, "other starting weights: trained"


def test_a_resume_state_changed_since_it_was_written_is_not_resumed_from(tmp_path, caplog):
    """A flipped bit in its weights would have gone on training, silently, from other weights."""
    from tests.test_checkpoint import change_a_weight

    train, val = tiny_split(8, seed=1, size=32), tiny_split(4, seed=2, size=32)
    resume = tmp_path / "state.pt"
    fit(seeded_model(), SPEC, train, val, config(epochs=1), resume_path=resume, keep_resume_state=True)
    change_a_weight(resume)
    epochs = []
    with caplog.at_level(logging.WARNING):
        fit(
            *(seeded_model(), SPEC, train, val, config(epochs=1)),
            resume_path=resume,
            after_epoch=lambda model, epoch: epochs.append(epoch) or False,
        )
    assert epochs == [1], "trained from the start"
    assert f"ignoring unreadable resume file {resume}" in caplog.text and "(checksum)" in caplog.text


def test_the_same_weights_predict_the_same_in_fp32_and_bf16(trained):
    """bf16 inference (run explicitly, emulated where the CPU lacks it) of weights trained in fp32 agrees
    with fp32 on at least 98 % of images; p(crack) moves by a few hundredths at most."""
    images = tiny_split(100, seed=4, size=96)
    probabilities = {
        name: crack_probabilities(trained, images.images, SPEC.mean, SPEC.std, Precision(name))
        for name in ("fp32", "bf16")
    }
    same = np.mean((probabilities["fp32"] >= 0.5) == (probabilities["bf16"] >= 0.5))
    assert same >= 0.98, same
    assert np.abs(probabilities["fp32"] - probabilities["bf16"]).mean() < 0.02


def test_training_runs_in_bf16_and_says_so(data):
    train, val, _ = data
    model, computed_in = seeded_model(), set()
    model.features[0].register_forward_hook(lambda _module, _inputs, output: computed_in.add(output.dtype))
    result = fit(model, SPEC, train, val, config(precision="bf16", epochs=1))
    assert result.precision == "bf16"
    assert computed_in == {torch.bfloat16}, "every training and validation pass in bf16"
    assert np.isfinite(result.history[0]["train_loss"]) and np.isfinite(result.history[0]["val_loss"])


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_only_where_measured_and_native(monkeypatch, native):
    from crack_pipeline.vision.models import precision

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    monkeypatch.setattr(precision, "AUTO_BF16_USES", frozenset({"inference"}))
    assert Precision.resolve("auto", "inference").name == ("bf16" if native else "fp32")
    for use in ("scratch", "fine_tune", "cam"):
        assert Precision.resolve("auto", use).name == "fp32", use
    assert (
        Precision.resolve("bf16", "cam").name == "bf16"
        and Precision.resolve("fp32", "inference").name == "fp32"
    )
    with pytest.raises(ValueError, match="precision"):
        Precision.resolve("fp8")
    with pytest.raises(ValueError, match="use"):
        Precision.resolve("auto", "painting")


@pytest.mark.parametrize(("avx512_bf16", "amx"), [(False, False), (True, False), (False, True)])
def test_native_bf16_is_what_torch_reports(monkeypatch, avx512_bf16, amx):
    from crack_pipeline.vision.models.precision import cpu_capability, cpu_has_native_bf16, describe_cpu

    # Both answers on any machine: what torch reports is the only input.
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    native = avx512_bf16 or amx
    assert cpu_has_native_bf16() == native
    assert cpu_capability() == torch.backends.cpu.get_cpu_capability()
    assert describe_cpu() == f"cpu {cpu_capability()}, native bf16 {'yes' if native else 'no'}"


def test_training_settings_are_checked_and_named():
    assert settings_from(
        TrainConfig, {"epochs": 2, "augment": {"scale": [0.5, 2]}}, "train"
    ).augment.scale == (
        0.5,
        2.0,
    )
    with pytest.raises(ConfigError, match=r"train\.defaults\.learning_rate: unknown setting"):
        settings_from(TrainConfig, {"epochs": 2, "learning_rate": 0.1}, "train.defaults")
    with pytest.raises(ConfigError, match=r"train\.augment\.blurr: unknown setting"):
        settings_from(TrainConfig, {"augment": {"blurr": 1.0}}, "train")
    with pytest.raises(ConfigError, match=r"train\.epochs: .*integer.*'ten'"):
        settings_from(TrainConfig, {"epochs": "ten"}, "train")
    with pytest.raises(ConfigError, match=r"train\.optimizer: .*'adamw' or 'adam'"):
        settings_from(TrainConfig, {"optimizer": "sgd"}, "train")
    # `--params=segmenter=3` or a section written as a list: named, not a TypeError from dict()
    with pytest.raises(ConfigError, match=r"^bad settings: segmenter: a mapping of settings, not 3$"):
        settings_from(TrainConfig, 3, "segmenter")


@pytest.mark.parametrize(
    "settings, named",
    [
        ({"patience": 0}, r"train\.defaults\.patience: .*greater than or equal to 1"),
        ({"batch_size": 0}, r"train\.defaults\.batch_size: .*greater than or equal to 1"),
        ({"epochs": 0}, r"train\.defaults: epochs 0, head_passes 0 and min_steps 0: nothing would train"),
        # min_steps raised epochs 0 to ceil(min_steps / steps an epoch): the whole network trained for them.
        (
            {"epochs": 0, "head_passes": 5, "min_steps": 200},
            r"train\.defaults: epochs 0 \(the head stage alone\) and min_steps 200: .*whole network",
        ),
    ],
)
def test_settings_that_would_train_nothing_are_refused_before_the_run(settings, named):
    # patience 0 stopped before the first epoch: the starting weights came back as the trained model.
    with pytest.raises(ConfigError, match=named):
        settings_from(TrainConfig, {"epochs": 3, **settings}, "train.defaults")
    # A head stage alone is training, and so are min_steps (the epochs they take).
    assert settings_from(TrainConfig, {"epochs": 0, "head_passes": 5}, "train").epochs == 0
    steps = settings_from(TrainConfig, {"epochs": 0, "min_steps": 10}, "train")
    assert steps.lasting(steps_per_epoch=4).epochs == 3


@pytest.mark.parametrize(
    "settings, named",
    [
        ({"lr": -0.001}, r"lr: Input should be greater than 0 \(got -0\.001\)"),
        ({"lr": float("nan")}, r"lr: Input should be greater than 0 \(got nan\)"),
        ({"weight_decay": -1}, r"weight_decay: Input should be greater than or equal to 0"),
        ({"warmup": 1.0}, r"warmup: Input should be less than 1 \(got 1\.0\)"),  # torch: ZeroDivisionError
        ({"warmup": 1.5}, r"warmup: Input should be less than 1"),  # torch: ValueError, at the first step
        (
            {"freeze_backbone_epochs": -1},
            r"freeze_backbone_epochs: Input should be greater than or equal to 0",
        ),
    ],
)
def test_a_learning_rate_or_schedule_out_of_range_is_named_before_the_run(settings, named):
    """A negative or NaN rate trained a model that diverged or never learned, and a warmup of 1 or more
    stopped the first step with torch's own error: both only once the stages before training had run."""
    with pytest.raises(ConfigError, match=rf"^bad settings: train\.defaults\.{named}"):
        settings_from(TrainConfig, settings, "train.defaults")
    settings_from(TrainConfig, {"lr": 0.003, "weight_decay": 0, "warmup": 0.0}, "train.defaults")


def test_balanced_domains_are_drawn_equally_often_whatever_their_size():
    data = ImageTensors(
        images=torch.zeros((100, 3, 4, 4), dtype=torch.uint8),
        labels=torch.zeros(100, dtype=torch.int64),
        paths=[f"big/{i}.png" for i in range(90)] + [f"small/{i}.png" for i in range(10)],
    )
    plain = epoch_order(data, False, torch.Generator().manual_seed(0))
    assert sorted(plain.tolist()) == list(range(100)), "each image once"
    draws = torch.cat([epoch_order(data, True, torch.Generator().manual_seed(s)) for s in range(20)])
    small_share = float((draws >= 90).float().mean())
    assert len(draws) == 2000 and 0.45 < small_share < 0.55, small_share
    again = epoch_order(data, True, torch.Generator().manual_seed(3))
    assert torch.equal(again, epoch_order(data, True, torch.Generator().manual_seed(3))), "seeded"


def test_after_epoch_sees_each_epochs_model_and_can_stop_training(data):
    train, val, _ = data
    seen = []

    def stop_at_2(model, epoch):
        seen.append((epoch, model.training))
        return epoch == 2

    result = fit(seeded_model(), SPEC, train, val, config(epochs=5), after_epoch=stop_at_2)
    assert [row["epoch"] for row in result.history] == [1, 2] and [e for e, _ in seen] == [1, 2]


@pytest.mark.parametrize("balanced", [False, True])
def test_the_head_stage_draws_domains_as_epochs_do(data, balanced):
    train, val, _ = data
    common = ImageTensors(train.images, train.labels, [f"common/{i}" for i in range(len(train))])
    rare_images = torch.zeros((6, *train.images.shape[1:]), dtype=torch.uint8)  # one look: one feature row
    rare = ImageTensors(rare_images, torch.ones(6, dtype=torch.long), [f"rare/{i}" for i in range(6)])
    model = seeded_model()
    seen: list[torch.Tensor] = []  # every feature row the classifier is trained on
    model.get_submodule(SPEC.head).register_forward_pre_hook(
        lambda head, inputs: seen.extend(inputs[0].detach()) if head.training else None
    )
    settings = config(head_passes=10, balance_domains=balanced)
    training.train_head_on_features(
        model,
        SPEC,
        common.concat(rare),
        val,
        settings,
        None,
        Precision("fp32"),
        torch.Generator().manual_seed(0),
    )
    rows = torch.stack(seen)
    # The all-black rare images give one feature row; the common ones are never all black.
    probe = fold_batch_norms(copy.deepcopy(model).eval())
    _, found = crack_probabilities_and_features(
        probe, SPEC.head, rare_images[:1], SPEC.mean, SPEC.std, Precision("fp32")
    )
    share = float(torch.isclose(rows, torch.from_numpy(found)[0], atol=1e-4).all(1).float().mean())
    expected = 0.5 if balanced else 6 / (len(train) + 6)
    assert abs(share - expected) < 0.06, (share, expected)


def test_a_head_stage_trains_the_classifier_alone_on_features_computed_once(data, monkeypatch):
    train, val, _ = data
    model = seeded_model()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    calls = {"n": 0}
    real = training.train_head_on_features

    def counted(*args, **kwargs):
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "train_head_on_features", counted)
    result = fit(model, SPEC, train, val, config(head_passes=30), after_epoch=lambda _, epoch: epoch == 0)
    assert [row["epoch"] for row in result.history] == [0] and calls["n"] == 1
    changed = {n for n, p in result.model.named_parameters() if not torch.equal(p.detach(), before[n])}
    assert changed and all(name.startswith(SPEC.head) for name in changed), changed
    assert result.history[0]["val_accuracy"] > 0.5, "a probe of even random features learns a little"
    # Then fine-tuning goes on from the trained head, epoch 1 onwards.
    full = fit(seeded_model(), SPEC, train, val, config(head_passes=5, epochs=2))
    assert [row["epoch"] for row in full.history] == [0, 1, 2]


def test_a_run_stopped_while_its_resume_state_loads_stops_and_keeps_it(tmp_path, monkeypatch):
    """A signal while the state loads is no damaged file: trained from the start, the state was overwritten
    after the first epoch (and the run stopped only once the variant was trained)."""
    train, val = tiny_split(8, seed=1, size=32), tiny_split(4, seed=2, size=32)
    resume = tmp_path / "state.pt"
    fit(seeded_model(), SPEC, train, val, config(epochs=1), resume_path=resume, keep_resume_state=True)
    kept = resume.read_bytes()

    def stopped(*args, **kwargs):
        raise RunInterrupted("the run was stopped by SIGINT")

    monkeypatch.setattr(torch, "load", stopped)
    with pytest.raises(RunInterrupted):
        fit(seeded_model(), SPEC, train, val, config(epochs=1), resume_path=resume)
    assert resume.read_bytes() == kept
