"""Unsupervised adaptation to a target domain: batch-norm statistics re-estimated on its unlabelled images.

A network's batch norms hold the mean and variance of the training domain's activations; on another
camera or surface those shift, and re-estimating them on target images (AdaBN, Li et al. 2016) is the
cheapest adaptation there is: no labels, no gradients, no weight changes.
"""

from __future__ import annotations

import torch
from torch import nn

from crack_pipeline.vision.models.inference import normalizer


@torch.no_grad()
def reestimate_batch_norms(model: nn.Module, images: torch.Tensor, mean, std, batch_size: int = 64) -> int:
    """Replace, in place, the running statistics of every batch norm of `model` with those of `images`
    (uint8 N x 3 x S x S, the target domain): an average over all of them, each image weighing the same,
    in one pass of batches of at most `batch_size`.

    Only the statistics change: weights, biases and every other module's state are left as they were,
    and the model is returned to eval mode. Returns the number of batch norms re-estimated.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or len(images) == 0:
        model.eval()
        return 0
    momenta = [norm.momentum for norm in norms]
    model.eval()  # dropout and everything else as at inference...
    for norm in norms:
        norm.reset_running_stats()
        norm.train()  # ...only the batch norms collect statistics
    normalise = normalizer(mean, std)
    device = next(model.parameters()).device  # a model on a GPU takes its batches there
    # Batches as even as can be, each weighted by its size: torch's cumulative average (momentum None)
    # weighs every batch the same, so 65 images in batches of 64 gave the 65th half of the statistics.
    # In a shuffled order (seeded: the same statistics every time): a batch's variance is taken about its own
    # mean, so batches each of one kind (a folder listed camera by camera, or its clean images then its
    # cracks) lost the spread between the kinds, up to 20 times the variance, and every p(crack) shifted.
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    seen = 0
    for indices in torch.tensor_split(order, -(-len(images) // batch_size)):
        batch = images[indices]
        seen += len(batch)
        for norm in norms:
            norm.momentum = len(batch) / seen
        model(normalise(batch.float().div_(255)).to(device))
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    model.eval()
    return len(norms)
