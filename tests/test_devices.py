"""Devices and replicas: `device: auto | cpu | cuda[:k]`, and training on several processes at once
(DistributedDataParallel, gloo on the CPU). CUDA-only paths run where a GPU is, and skip elsewhere."""

from __future__ import annotations

import copy
import logging
import os
import pickle
import re
import signal

import numpy as np
import pytest
import torch
from torch.distributed.elastic.multiprocessing.api import SignalException

from crack_pipeline.run_guard import RunInterrupted, interrupts_as_errors
from crack_pipeline.vision.data.folder import ImageRef
from crack_pipeline.vision.data.synthetic import SynthConfig, render_photo
from crack_pipeline.vision.errors import InputError
from crack_pipeline.vision.explain.run import explain_images
from crack_pipeline.vision.explain.tiling import TilingConfig
from crack_pipeline.vision.models import precision as precisions
from crack_pipeline.vision.models.device import resolve_device, spread_device
from crack_pipeline.vision.models.precision import Precision, compute_used, has_native_bf16
from crack_pipeline.vision.models.registry import create_model
from crack_pipeline.vision.settings import ConfigError
from crack_pipeline.vision.training import distributed
from crack_pipeline.vision.training import loop as training
from crack_pipeline.vision.training.distributed import fit_distributed, replica_device
from crack_pipeline.vision.training.replicas import Replicas
from crack_pipeline.vision.transfer.adaptation import reestimate_batch_norms
from tests.conftest import needs_gpu
from tests.replica_stops import killed_after_epoch_3
from tests.tiny_training import SPEC, accuracy, config, seeded_model, tiny_split

GPU = torch.cuda.is_available()


def test_auto_takes_a_gpu_when_torch_sees_one_else_the_cpu():
    assert resolve_device("auto").type == ("cuda" if GPU else "cpu")
    assert resolve_device("cpu") == torch.device("cpu") == resolve_device(" CPU ")
    with pytest.raises(ConfigError, match=r"device must be auto, cpu, cuda or cuda:<index>, got 'tpu'"):
        resolve_device("tpu")
    with pytest.raises(ConfigError, match=r"got 0$"):  # --params=device=0 was taken for auto
        resolve_device(0)
    assert resolve_device(None) == resolve_device("") == resolve_device("auto")


@pytest.mark.skipif(GPU, reason="a CUDA GPU is present")
@pytest.mark.parametrize("asked", ["cuda", "cuda:1"])
def test_asking_for_a_gpu_where_there_is_none_is_a_clear_error(asked):
    with pytest.raises(
        ConfigError, match=rf"device: {asked} asks for a CUDA GPU, but torch .* sees none.*auto or cpu"
    ):
        Precision.resolve("auto", "inference", asked)


@pytest.mark.parametrize("asked", ["auto", "cuda:1", torch.device("cuda", 1)])
def test_fp32_on_a_gpu_is_fp32_not_tf32(two_gpus, asked):
    assert resolve_device(asked).type == "cuda"
    assert not torch.backends.cudnn.allow_tf32, "cuDNN's convolutions in fp32, as on the CPU"
    assert not torch.backends.cuda.matmul.allow_tf32


def test_bf16_is_native_on_a_gpu_from_compute_capability_8_on(monkeypatch):
    capabilities = {0: (8, 6), 1: (7, 5)}  # an RTX 3090, and a T4, which only emulates bf16
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device: capabilities[device.index])
    assert has_native_bf16(torch.device("cuda", 0))
    assert not has_native_bf16(torch.device("cuda", 1)), "the GPU asked for, not the current one"


@pytest.mark.parametrize("native", [False, True])
def test_bf16_asked_for_where_it_is_emulated_is_warned_of_once(monkeypatch, caplog, native):
    monkeypatch.setattr(precisions, "cpu_has_native_bf16", lambda: native)
    precisions._warn_emulated_bf16.cache_clear()
    with caplog.at_level(logging.WARNING, logger=precisions.__name__):
        assert {Precision.resolve("bf16", use).name for use in ("scratch", "inference", "cam")} == {"bf16"}
        Precision.resolve("fp32")
    warned = [record.getMessage() for record in caplog.records]
    if native:
        assert warned == []
    else:
        expected = (
            r"precision: bf16 on cpu, which only emulates it \(cpu .*, native bf16 no\): slower than fp32"
        )
        assert len(warned) == 1 and re.match(expected, warned[0]), warned


def test_processes_sharing_a_machine_share_its_gpus_when_none_is_asked_for(two_gpus):
    assert [spread_device("auto", index) for index in range(4)] == [
        torch.device("cuda", 0),
        torch.device("cuda", 1),
        torch.device("cuda", 0),
        torch.device("cuda", 1),
    ]
    assert spread_device(" CUDA ", 3) == torch.device("cuda", 1), "a GPU, any of them"
    assert spread_device("cuda:1", 2) == torch.device("cuda", 1), "the GPU asked for"
    assert spread_device("cpu", 1) == torch.device("cpu")


def test_replicas_take_the_gpus_from_the_one_asked_for_on(two_gpus):
    assert replica_device(torch.device("cuda", 0), 1) == torch.device("cuda", 1)
    assert replica_device(torch.device("cuda"), 0) == torch.device("cuda", 0)
    assert replica_device(torch.device("cpu"), 1) == torch.device("cpu")
    with pytest.raises(
        ConfigError, match=r"^train.processes: 2 replicas from cuda:1 on, but torch sees 2 GPUs"
    ):
        fit_distributed(
            seeded_model(), SPEC, tiny_split(2, 1), tiny_split(2, 2), config(), 2, device="cuda:1"
        )


def test_replicas_split_every_epoch_exactly_and_evenly():
    order = torch.randperm(11, generator=torch.Generator().manual_seed(0))
    shares = [Replicas(rank, 3).share(order) for rank in range(3)]
    assert [len(share) for share in shares] == [4, 4, 4], "padded: every replica takes as many steps"
    assert set(torch.cat(shares).tolist()) == set(range(11)), "every image, in one share or another"
    assert torch.equal(Replicas().share(order), order)


def test_two_replicas_train_on_copies_and_resume_after_a_kill_as_if_never_stopped(tmp_path):
    """2 processes, gloo, 5 epochs (the first two with the backbone frozen). Spawning moves a model's CPU
    tensors into shared memory: unless each replica trains a copy of its own, both step the same weights in
    place, racing, and the caller's model too; nor are the images or the model moved there (a container's
    /dev/shm is 64 MB). Killed after epoch 3 and started again, the replicas resume from the state the first
    one saved (with every replica's augmentation and dropout draws) and end bit for bit as the run that was
    never stopped; the first one's model comes back, on the CPU. (One test: each run spawns its replicas.)"""
    train, val, test = tiny_split(48, seed=1), tiny_split(16, seed=2), tiny_split(24, seed=3)
    settings = config(epochs=5, freeze_backbone_epochs=2)
    given = seeded_model(5)
    before = {name: tensor.clone() for name, tensor in given.state_dict().items()}
    handled_before = signal.getsignal(signal.SIGTERM)
    uninterrupted = fit_distributed(given, SPEC, train, val, settings, 2)
    assert [
        name for name, tensor in given.state_dict().items() if not torch.equal(tensor, before[name])
    ] == []
    handed = [train.images, train.labels, val.images, *given.state_dict().values()]
    assert not any(tensor.is_shared() for tensor in handed), "none moved to /dev/shm (64 MB in a container)"

    resume = tmp_path / "small_cnn.pt"
    with pytest.raises(InputError, match="^killed after epoch 3$"):
        fit_distributed(
            seeded_model(5), SPEC, train, val, settings, 2, resume, after_epoch=killed_after_epoch_3
        )
    assert resume.is_file(), "the first replica's state after epoch 3"
    draws = torch.load(resume, weights_only=True)["replica_draws"]
    assert len(draws) == 2 and not torch.equal(draws[0]["augment"], draws[1]["augment"]), "each its own"
    result = fit_distributed(seeded_model(5), SPEC, train, val, settings, 2, resume_path=resume)
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4, 5], "epochs 4-5 after the restart"
    assert not resume.exists(), "removed by the first replica once done"
    assert signal.getsignal(signal.SIGTERM) == handled_before, "torch's launcher's handler is not left behind"
    assert all(p.device.type == "cpu" for p in result.model.parameters())
    resumed, never_stopped = result.model.state_dict(), uninterrupted.model.state_dict()
    assert [name for name in resumed if not torch.equal(resumed[name], never_stopped[name])] == []
    losses = [
        [(row["train_loss"], row["val_loss"]) for row in run.history] for run in (result, uninterrupted)
    ]
    assert losses[0] == losses[1]
    # Half the steps per epoch of one process (each replica a half of the images): it still learns.
    assert result.history[-1]["train_loss"] < result.history[2]["train_loss"]
    assert accuracy(result.model, test) >= 0.8


@pytest.fixture
def signals_as_in_a_terminal():
    """SIGINT and SIGTERM handled as a command started in a terminal finds them (a test worker may ignore
    SIGINT); as they were after the test."""
    before = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    for number, handler in before.items():
        signal.signal(number, handler)


@pytest.mark.parametrize("stopped_by", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_that_stops_the_replicas_ends_the_run_as_any_signal_does(
    signals_as_in_a_terminal, stopped_by
):
    """torch's launcher answers a signal with its own handler: it shuts the replicas down and raises its
    SignalException (measured: Ctrl-C in a run of 2 replicas), which ended a kedro run with a traceback
    instead of `the run was stopped by SIGTERM`."""
    stopped = pytest.raises(RunInterrupted, match=f"^the run was stopped by {stopped_by.name}$")
    with stopped, interrupts_as_errors(), distributed._caller_signal_handlers():
        signal.signal(stopped_by, signal.SIG_DFL)  # as torch's launcher replaces the run's handler
        raise SignalException(f"Process 1 got signal: {stopped_by}", sigval=stopped_by)
    with pytest.raises(KeyboardInterrupt), distributed._caller_signal_handlers():  # a script's Ctrl-C
        raise SignalException("Process 1 got signal: SIGINT", sigval=signal.SIGINT)


def test_each_replica_is_handed_a_pipe_buffers_worth_whatever_the_model_weighs(monkeypatch):
    """Spawning writes a replica's arguments (every replica's) into a pipe, which blocks beyond its buffer
    (64 KiB on Linux) until the replica reads them, after importing torch and the project: with the model
    among them, the replicas started one after the other, 3 s each. The model goes in a file."""
    launched = {}

    def launcher(_config, _entrypoint):
        def launch(*arguments):
            assert len(pickle.dumps(arguments)) < 2**16, "more than a pipe's buffer"
            launched["weights"] = pickle.loads(arguments[0].read_bytes()).state_dict()  # while the file is
            raise RuntimeError("launched")

        return launch

    monkeypatch.setattr(distributed, "elastic_launch", launcher)
    model = create_model("efficientnet_lite0", pretrained=False)  # 14 MB of weights
    with pytest.raises(RuntimeError, match="launched"):
        fit_distributed(model, SPEC, tiny_split(2, 1, 32), tiny_split(2, 2, 32), config(), 2)
    given = model.state_dict()
    assert all(torch.equal(tensor, given[name]) for name, tensor in launched["weights"].items())


def test_replicas_share_the_threads_this_process_may_use_not_the_hosts_cores(monkeypatch, torch_threads):
    """A container given 4 of a 64-core host's CPUs (docker --cpuset-cpus), or OMP_NUM_THREADS=4: each of 2
    replicas took 32 threads, 16 times the cores it had; and the checkpoint recorded the caller's count."""
    launched = {}

    def launcher(_config, _entrypoint):
        def launch(*arguments):
            launched["threads"] = arguments[-1]
            raise RuntimeError("launched")

        return launch

    monkeypatch.setattr(distributed, "elastic_launch", launcher)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    torch.set_num_threads(4)
    with pytest.raises(RuntimeError, match="launched"):
        fit_distributed(seeded_model(), SPEC, tiny_split(2, 1, 32), tiny_split(2, 2, 32), config(), 2)
    recorded = compute_used(torch.device("cpu"), 2)["threads"]
    assert launched["threads"] == recorded == 2


def test_only_the_first_replica_says_what_each_replica_does(tmp_path, monkeypatch, caplog):
    """Every replica logged min_steps' epochs (`schedule.lasting`) and each epoch's line: a run of 2 processes
    said each line twice. Here a replica's training is only the lasting note, and no process group."""
    from crack_pipeline.vision.training import schedule

    monkeypatch.setattr(distributed, "exit_with", lambda run: None)
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda backend: None)
    monkeypatch.setattr(distributed.dist, "destroy_process_group", lambda: None)
    monkeypatch.setattr(
        distributed, "fit", lambda *args, **kwargs: schedule.lasting(config(epochs=1, min_steps=6), 1, "cnn")
    )
    images, weights = tmp_path / "images.pt", tmp_path / "model.pickle"
    distributed._write_inputs(images, weights, seeded_model(), tiny_split(2, 1, 32), tiny_split(2, 2, 32))
    monkeypatch.setenv("WORLD_SIZE", "2")
    said = []
    try:
        for rank in ("0", "1"):
            monkeypatch.setenv("RANK", rank)
            monkeypatch.setenv("LOCAL_RANK", rank)
            caplog.clear()
            with caplog.at_level(logging.INFO):
                arguments = (config(), None, False, torch.device("cpu"), None, False, os.getpid())
                distributed._replica(weights, SPEC.name, images, *arguments, torch.get_num_threads())
            said.append([record.getMessage() for record in caplog.records])
    finally:
        logging.disable(logging.NOTSET)  # as the second replica's process leaves it
    assert said == [["cnn: 6 epochs of 1 steps, for min_steps 6 (epochs 1 gave 1 steps)"], []]


def test_one_process_is_plain_fit_and_bad_counts_are_named():
    with pytest.raises(ConfigError, match="train.processes: a whole number, at least 1"):
        fit_distributed(seeded_model(), SPEC, tiny_split(2, 1), tiny_split(2, 2), config(epochs=1), 0)


@needs_gpu
def test_training_on_a_gpu_returns_a_cpu_model_that_predicts_like_it_learned():
    train, val, test = tiny_split(48, seed=1), tiny_split(16, seed=2), tiny_split(24, seed=3)
    result = training.fit(seeded_model(), SPEC, train, val, config(), device="cuda")
    assert all(p.device.type == "cpu" for p in result.model.parameters())
    assert accuracy(result.model, test) >= 0.9


@needs_gpu
def test_a_photo_explained_on_a_gpu_matches_the_cpu(trained_checkpoint, tmp_path):
    from PIL import Image

    photo = render_photo(SynthConfig(image_size=96, seed=3, difficulty=0.0), 240, 330, cracks=1)
    Image.fromarray(photo.image).save(tmp_path / "deck.png")
    items = [ImageRef("deck.png", tmp_path / "deck.png")]
    tiling = TilingConfig(tile_size=96, overlap=0.25, cam_min_probability=0.05)
    maps = [
        explain_images(
            trained_checkpoint, items, ["layercam"], 0.5, tiling=tiling, device=device, precision="fp32"
        )
        for device in ("cpu", "cuda")
    ]
    cpu, gpu = (result.predictions.crack_probability.iloc[0] for result in maps)
    assert gpu == pytest.approx(cpu, abs=1e-3)
    heatmaps = [np.load(__import__("io").BytesIO(r.files["layercam/00000_deck_heatmap.npy"])) for r in maps]
    assert np.abs(heatmaps[0].astype(float) - heatmaps[1]).max() < 0.02


@needs_gpu
def test_batch_norms_reestimated_on_a_gpu_match_the_cpu():
    torch.manual_seed(0)
    on_cpu = create_model("small_cnn").eval()
    on_gpu = copy.deepcopy(on_cpu).to("cuda")
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    for model in (on_cpu, on_gpu):
        reestimate_batch_norms(model, images, (0.5,) * 3, (0.5,) * 3)
    torch.testing.assert_close(on_gpu.features[1].running_var.cpu(), on_cpu.features[1].running_var)


@needs_gpu
def test_batches_reach_the_gpu_in_its_precision():
    precision = Precision.resolve("auto", "inference", "cuda")
    batch = precision.batch(torch.zeros(2, 3, 8, 8))
    assert batch.is_cuda and batch.is_contiguous(memory_format=torch.channels_last)


def test_a_pretrained_backbone_frozen_then_trained_on_replicas_trains_without_a_warning(tmp_path, capfd):
    """An ImageNet model (pretrained: its frozen batch norms hold their statistics) stopped at its first
    epoch on 2 replicas (`DistributedDataParallel has no attribute classifier`); once its backbone trained,
    each replica warned "find_unused_parameters=True was specified in DDP constructor, but did not find any
    unused parameters". In this process, as a group of one (the replicas' own code; spawning them costs s)."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        settings = config(epochs=2, freeze_backbone_epochs=1, batch_size=4)
        result = training.fit(
            seeded_model(),
            SPEC,
            tiny_split(4, 1),
            tiny_split(2, 2),
            settings,
            pretrained=True,
            replicas=Replicas(0, 2),
        )
    finally:
        dist.destroy_process_group()
    assert [row["epoch"] for row in result.history] == [1, 2]
    assert "find_unused_parameters" not in capfd.readouterr().err
