"""The replicas of one training run: a single process, or one of `world` processes under
torch.distributed (DistributedDataParallel), each training on its share of every epoch's images; the
draws they make, and torch's deterministic algorithms for a run that asks for them."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler


@dataclass(frozen=True)
class Replicas:
    rank: int = 0  # this process's place among them
    world: int = 1  # how many train together

    @property
    def writes(self) -> bool:
        """Only the first replica writes files (resume state): the others hold the same weights."""
        return self.rank == 0

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """The module to train: `model` itself, or wrapped so that the gradients of the parameters that
        train now are averaged across replicas. Wrapped anew when a frozen backbone starts to train: one
        wrapper for both stages had to look for parameters without gradients at every step
        (find_unused_parameters), and each replica warned that it found none once all trained."""
        if self.world == 1:
            return model
        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    @staticmethod
    def network(model: nn.Module) -> nn.Module:
        """The network `wrap` made `model` of: what its submodules are named in (a spec's head, layers)."""
        return model.module if isinstance(model, DistributedDataParallel) else model

    def share(self, order: torch.Tensor) -> torch.Tensor:
        """This replica's part of an epoch's image order (the same on every replica): every `world`-th
        image from its rank on, padded so that all replicas take the same number of steps."""
        if self.world == 1:
            return order
        picks = DistributedSampler(range(len(order)), num_replicas=self.world, rank=self.rank, shuffle=False)
        return order[list(picks)]

    def agree(self, model: nn.Module) -> None:
        """Every replica takes the first one's weights and buffers (batch-norm statistics, which each
        updated on its own images in the last step; a head trained alone), so that all evaluate alike."""
        if self.world == 1:
            return
        for tensor in model.state_dict().values():
            dist.broadcast(tensor, src=0)

    def first(self, value):
        """The first replica's `value` on every replica: decisions (stop, best epoch) are taken once."""
        if self.world == 1:
            return value
        shared = [value]
        dist.broadcast_object_list(shared, src=0)
        return shared[0]

    def each(self, value) -> list:
        """Every replica's `value`, by rank, on every replica (their random draws, for a resume state)."""
        if self.world == 1:
            return [value]
        gathered = [None] * self.world
        dist.all_gather_object(gathered, value)
        return gathered

    def total(self, *values: float) -> list[float]:
        """Sums of `values` over the replicas (losses, counts), the same on every one."""
        if self.world == 1:
            return list(values)
        summed = torch.tensor(values, dtype=torch.float64)
        if dist.get_backend() == "nccl":  # NCCL reduces GPU tensors only
            summed = summed.cuda()
        dist.all_reduce(summed)
        return summed.tolist()


SINGLE = Replicas()


@dataclass
class Randomness:
    """The draws of a run: the epochs' image order (the same on every replica) and the augmentations
    (one stream per replica; on one process, one generator for both, as runs have always drawn)."""

    order: torch.Generator
    augment: torch.Generator

    @classmethod
    def seeded(cls, seed: int, replicas: Replicas) -> Randomness:
        order = torch.Generator().manual_seed(seed)
        if replicas.world == 1:
            return cls(order, order)
        return cls(order, torch.Generator().manual_seed(seed + 1 + replicas.rank))


@contextlib.contextmanager
def deterministic_algorithms(enabled: bool):
    """Within the block, torch uses only deterministic algorithms if `enabled` (it errs on an op
    that has none, rather than silently varying)."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(enabled or previous)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)
