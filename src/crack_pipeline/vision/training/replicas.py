"""The replicas of one training run: a single process, or one of `world` processes under
torch.distributed (DistributedDataParallel), each training on its share of every epoch's images."""

from __future__ import annotations

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
        """The module to train: `model` itself, or wrapped so that gradients are averaged across replicas."""
        if self.world == 1:
            return model
        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    def share(self, order: torch.Tensor) -> torch.Tensor:
        """This replica's part of an epoch's image order (the same on every replica): every `world`-th
        image from its rank on, padded so that all replicas take the same number of steps."""
        if self.world == 1:
            return order
        picks = DistributedSampler(range(len(order)), num_replicas=self.world, rank=self.rank, shuffle=False)
        return order[list(picks)]

    def agree(self, model: nn.Module) -> None:
        """Every replica takes the first one's buffers (batch-norm statistics, which each replica updated
        on its own images in the last step), so that all evaluate, and stop, alike."""
        if self.world == 1:
            return
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)

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
