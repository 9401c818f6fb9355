"""Training on several processes at once: torchrun's launcher (`torch.distributed.run`'s elastic_launch)
starts `processes` replicas on this machine, each runs `fit` on its share of every epoch's images with
DistributedDataParallel (gloo on CPUs, NCCL on GPUs: one GPU per replica), and the first replica's result
comes back to the caller, the one process that writes checkpoints and MLflow runs.

Nothing goes to the replicas, or comes back, through shared memory (/dev/shm): torch's pickler moves every
tensor handed over there (the images, the model), and a container's /dev/shm is 64 MB unless it is given
more (`docker run --shm-size`). The images are written once to a file on disk that every replica maps into
memory (pages read as they are used, shared among them), and the model, pickled, to another; the result comes
back pickled as bytes. Not the model through the launcher's arguments: each replica's start then waited, its
arguments (every replica's) blocking the pipe they go through, until the one before had read them, which it
did only after importing torch and this project (3 s a replica)."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.launcher.api import LaunchConfig, elastic_launch

from crack_pipeline.vision.data.parallel import exit_with
from crack_pipeline.vision.data.tensor_cache import ImageTensors
from crack_pipeline.vision.errors import on_full_disk, user_error
from crack_pipeline.vision.models.device import resolve_device, threads_per_process
from crack_pipeline.vision.models.registry import ModelSpec, get_spec
from crack_pipeline.vision.settings import ConfigError, count_setting
from crack_pipeline.vision.training.config import TrainConfig
from crack_pipeline.vision.training.loop import FitResult, fit
from crack_pipeline.vision.training.observer import EpochObserver
from crack_pipeline.vision.training.replica_folder import replica_folder
from crack_pipeline.vision.training.replicas import Replicas

logger = logging.getLogger(__name__)


def fit_distributed(
    model: nn.Module,
    spec: ModelSpec,
    train: ImageTensors,
    val: ImageTensors,
    config: TrainConfig,
    processes: int,
    resume_path: Path | None = None,
    pretrained: bool = False,
    device: str | torch.device = "cpu",
    after_epoch: Callable[[nn.Module, int], bool] | None = None,
    observe_epoch: EpochObserver | None = None,
    keep_resume_state: bool = False,
) -> FitResult:
    """`fit` on `processes` replicas (one process: `fit` itself); `after_epoch` and `keep_resume_state` as
    `fit` takes them, `after_epoch` run by every replica (a module-level function: replicas unpickle it);
    `observe_epoch` with one process only.
    On a GPU device each replica takes one GPU, from the one asked for on (`cuda:1` with 2 processes:
    GPUs 1 and 2), so there must be as many; on the CPU the cores are shared among them."""
    device = resolve_device(device)
    count_setting(processes, "train.processes")
    common = (config, resume_path, pretrained, device)  # as both paths pass them
    if processes == 1:
        return fit(
            model,
            spec,
            train,
            val,
            *common,
            after_epoch=after_epoch,
            observe_epoch=observe_epoch,
            keep_resume_state=keep_resume_state,
        )
    if observe_epoch is not None:
        # The observer's record would stay in a replica's process.
        logger.warning(
            "train.processes: %d replicas, so epochs are not observed (cam_progress is off)", processes
        )
    if device.type == "cuda" and (device.index or 0) + processes > torch.cuda.device_count():
        raise ConfigError(
            f"train.processes: {processes} replicas from {device} on, but torch sees "
            f"{torch.cuda.device_count()} GPUs"
        )
    logger.info("train: %s on %d replicas (%s, %s)", spec.name, processes, device.type, _backend(device))
    # Replicas fork from a server that imported this module (torch, the project) once for every launch of
    # this process, not each on its own as spawned ones did (8 s of CPU a replica). A server parallel_map
    # started before keeps its own preloads: replicas forked from it import the module themselves.
    multiprocessing.set_forkserver_preload([__name__])
    with replica_folder() as folder:
        launch = LaunchConfig(
            min_nodes=1,
            max_nodes=1,
            nproc_per_node=processes,
            run_id=f"crack-pipeline-{uuid.uuid4().hex[:8]}",
            rdzv_backend="c10d",
            rdzv_endpoint="localhost:0",  # a free port, as `torchrun --standalone`
            max_restarts=0,
            monitor_interval=0.2,
            start_method="forkserver",
            # Its logs in the folder too (by default in a folder of their own in /tmp, left by every run).
            logs_specs=DefaultLogsSpecs(log_dir=str(folder / "launcher")),
        )
        images, weights = folder / "images.pt", folder / "model.pickle"
        _write_inputs(images, weights, model, train, val)
        # The spec by name: its build function may be a closure, which spawned processes cannot unpickle.
        with _caller_signal_handlers():
            try:
                results = elastic_launch(launch, _replica)(
                    *(weights, spec.name, images, *common, after_epoch, keep_resume_state, os.getpid()),
                    threads_per_process(processes),
                )
            except ChildFailedError as failed:
                if (said := _replicas_user_error(failed, folder)) is None:
                    raise
                raise said from failed
    return pickle.loads(results[0])


def _replicas_user_error(failed: ChildFailedError, folder: Path) -> BaseException | None:
    """The user error a failed replica left in `folder` (`_replica` does), the first to fail first:
    said as one process says it (training diverged, a bad setting, a full disk), not as torch's report of
    the replica's traceback. None when the replicas failed otherwise."""
    first, _ = failed.get_first_failure()
    for rank in sorted(failed.failures, key=lambda rank: rank != first):
        if (left := _user_error_file(folder, rank)).is_file():
            return pickle.loads(left.read_bytes())
    return None


def _user_error_file(folder: Path, rank: int) -> Path:
    return folder / f"user-error-{rank}.pickle"


def _plain(value) -> bytes:
    """`value` pickled by Python's own pickler, its tensors in the bytes: spawning pickles them with torch's,
    which moves them to shared memory (a caller's model too, in place)."""
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _write_inputs(
    images: Path, weights: Path, model: nn.Module, train: ImageTensors, val: ImageTensors
) -> None:
    """Both splits to `images`, for replicas to map, and the model to `weights` (both in the temporary folder:
    TMPDIR, /tmp by default)."""
    writing = images  # the file named if the disk is full
    try:
        with images.open("wb") as file:
            torch.save({"train": train.stored(), "val": val.stored()}, file)
        writing = weights
        weights.write_bytes(_plain(model))
    except Exception as error:
        model_size = sum(tensor.nbytes for tensor in model.state_dict().values())
        need = (train.images.nbytes + val.images.nbytes + model_size) / 2**20
        doing = (
            f"writing the images and the model for train.processes' replicas, {need:,.0f} MB: free that much "
            "there, point TMPDIR at a disk that has it, or train on one process"
        )
        if (full := on_full_disk(error, writing, doing)) is None:
            raise
        raise full from error


def _read_images(path: Path) -> tuple[ImageTensors, ImageTensors]:
    stored = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return ImageTensors(**stored["train"]), ImageTensors(**stored["val"])


@contextlib.contextmanager
def _caller_signal_handlers() -> Iterator[None]:
    """torch's launcher installs its own SIGINT, SIGTERM, SIGHUP and SIGQUIT handlers and leaves them: the
    caller's are put back once the replicas are done (how the rest of its run stops on a signal). A signal
    that stopped the replicas meanwhile (torch's `SignalException`, once it has shut them down) goes to the
    caller's own handler for it: a run stopped by Ctrl-C or SIGTERM ends as any other (`the run was stopped
    by SIGTERM`), a script by Ctrl-C with KeyboardInterrupt, not with torch's exception and traceback."""
    caught = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
    kept = {number: signal.getsignal(number) for number in caught}

    def restore() -> None:
        if threading.current_thread() is threading.main_thread():
            for number, handler in kept.items():
                signal.signal(number, signal.SIG_DFL if handler is None else handler)

    try:
        yield
    except SignalException as stopped:
        restore()
        if callable(handler := kept.get(stopped.sigval)):
            handler(stopped.sigval, None)  # raises as the caller's handler does (else torch's, as before)
        raise
    finally:
        restore()


def replica_device(device: torch.device, local_rank: int) -> torch.device:
    """The device of replica `local_rank` when the run asked for `device`: the CPU, or the GPU that many
    after the one asked for (resolved in the replica's own process, which holds its own torch settings)."""
    if device.type != "cuda":
        return torch.device("cpu")
    return resolve_device(f"cuda:{(device.index or 0) + local_rank}")


def _backend(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def _replica(
    model: Path,
    architecture: str,
    images: Path,
    config: TrainConfig,
    resume_path: Path | None,
    pretrained: bool,
    device: torch.device,
    after_epoch: Callable[[nn.Module, int], bool] | None,
    keep_resume_state: bool,
    run: int,
    threads: int,
) -> bytes | None:
    """One replica, in its own process: its rank from the launcher's environment, its device, its `threads`
    (its share of the caller's, which OMP_NUM_THREADS or the CPUs it may run on set, not of the host's every
    core); the first returns its result (`_plain`). Its model is a copy of its own, never one in shared
    memory: replicas updating the same parameters and batch-norm buffers in place would race."""
    exit_with(run)  # the run killed (SIGKILL, the OOM killer): its replicas end too, not train on for nothing
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if rank:  # the others train alike: each said every line of the first (min_steps' epochs, each epoch)
        logging.disable(logging.INFO)
    model = pickle.loads(model.read_bytes())
    train, val = _read_images(images)
    device = replica_device(device, int(os.environ["LOCAL_RANK"]))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    else:
        torch.set_num_threads(threads)
    dist.init_process_group(_backend(device))
    try:
        replicas = Replicas(rank, world)
        result = fit(
            model,
            get_spec(architecture),
            train,
            val,
            config,
            resume_path,
            pretrained,
            device,
            replicas,
            after_epoch,
            keep_resume_state=keep_resume_state,
        )
    except Exception as error:
        if (said := user_error(error)) is not None:
            # beside the images, for the caller to raise: the launcher reports only a replica's traceback
            _user_error_file(images.parent, rank).write_bytes(pickle.dumps(said))
        raise
    finally:
        dist.destroy_process_group()
    return _plain(result) if rank == 0 else None
