"""A crack detector that never saw a crack: PatchCore's idea on EfficientNet-Lite0's ImageNet features.

Every patch of a photo is described by the pretrained backbone's features of blocks 4 and 5 (1/16 and 1/32
of the input; each averaged over its 3x3 neighbourhood, block 5's brought to 1/16); the head keeps a memory
bank, a coreset of clean patches. A patch's anomaly is its distance to the nearest patch in the bank; an
image's score is its most anomalous patch. As a module it answers like the classifiers (two logits,
no_crack and crack), so evaluation, thresholds, the registry and explanations take it as it is.

Blocks 4 and 5, at 1/16, chosen by measurement (bench/one_class.py, README): against blocks 2 and 3 at 1/8,
SDNET walls' ROC-AUC 0.657 -> 0.713 at Özgenel's 0.999, and 4.9 -> 72-90 images/s with a 4,000-patch bank.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FEATURE_BLOCKS = (4, 5)
NEIGHBOURHOOD = 3
BORDER = 1  # patches


class NearestPatch(nn.Module):
    """The head: a bank of clean patch features and each patch's distance to its nearest one."""

    def __init__(self):
        super().__init__()
        self.register_buffer("bank", torch.empty(0, 0))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """N x H x W distances of N x C x H x W patch features to the bank."""
        if not len(self.bank):
            raise RuntimeError("the memory bank is empty: fit it on clean images first (fit_patch_memory)")
        n, c, h, w = features.shape
        flat = features.permute(0, 2, 3, 1).reshape(-1, c).float()
        distances = nearest_distances(flat, self.bank).reshape(n, h, w)
        if min(h, w) <= 2 * BORDER:
            return distances
        # The outermost patches see the padding, and their features vary most from image to image: they
        # would outscore a crack on a small image. Each takes its inner neighbour's distance.
        inner = distances[:, BORDER:-BORDER, BORDER:-BORDER]
        return F.pad(inner[:, None], (BORDER,) * 4, mode="replicate")[:, 0]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # The bank's size is the fitted model's: take it from the checkpoint being loaded.
        bank = state_dict.get(f"{prefix}bank")
        if bank is not None:
            self.bank = torch.empty_like(bank)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class PatchMemory(nn.Module):
    """Pretrained stem and blocks up to the last feature block, the nearest-patch head, and the score scale
    that turns an image's anomaly into a crack logit (`fit_patch_memory` sets the bank and the scale)."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.conv_stem, self.bn1 = backbone.conv_stem, backbone.bn1
        self.blocks = nn.Sequential(*list(backbone.blocks)[: max(FEATURE_BLOCKS) + 1])
        self.head = NearestPatch()
        self.requires_grad_(False)  # nothing here learns by gradient
        # The crack logit is (score - centre) / scale: 0 where clean validation images reach the chosen
        # false-alarm rate.
        self.register_buffer("score_centre", torch.tensor(0.0))
        self.register_buffer("score_scale", torch.tensor(1.0))

    def patch_features(self, x: torch.Tensor) -> torch.Tensor:
        """N x C x H/16 x W/16 features of normalised images."""
        found = []
        h = self.bn1(self.conv_stem(x))
        for index, block in enumerate(self.blocks):
            h = block(h)
            if index in FEATURE_BLOCKS:
                found.append(F.avg_pool2d(h, NEIGHBOURHOOD, 1, NEIGHBOURHOOD // 2, count_include_pad=False))
        size = found[0].shape[-2:]
        return torch.cat(
            [f if f.shape[-2:] == size else F.interpolate(f, size, mode="bilinear") for f in found], 1
        )

    def anomaly_map(self, x: torch.Tensor) -> torch.Tensor:
        """N x H/16 x W/16: each patch's distance to its nearest clean patch in the bank."""
        # Distances as |q|^2 + |b|^2 - 2 q.b lose most of their digits in bf16: always fp32.
        with torch.autocast(x.device.type, enabled=False):
            return self.head(self.patch_features(x.float()))

    def logits_of(self, anomaly_map: torch.Tensor) -> torch.Tensor:
        """N x 2 (no_crack, crack) logits of the images whose anomaly maps are given."""
        crack = (anomaly_map.flatten(1).amax(1) - self.score_centre) / self.score_scale
        return torch.stack([torch.zeros_like(crack), crack], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_of(self.anomaly_map(x))


def nearest_distances(queries: torch.Tensor, bank: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """The Euclidean distance of each row of `queries` to its nearest row of `bank`, in chunks of the bank
    (one matrix product each, never a queries x bank copy of the features). Chunking the fixed-size bank
    rather than the queries keeps the loop's length independent of the batch, so the registered model
    (torch.export) takes any number of images."""
    query_norms = (queries * queries).sum(1, keepdim=True)
    nearest = queries.new_full(queries.shape[:1], float("inf"))
    for start in range(0, len(bank), chunk):
        part = bank[start : start + chunk]
        squared = query_norms + (part * part).sum(1) - 2 * queries @ part.T
        nearest = torch.minimum(nearest, squared.amin(1))
    return nearest.clamp_min(0).sqrt()


def greedy_coreset(candidates: torch.Tensor, size: int, dims: int, seed: int) -> torch.Tensor:
    """Indices of `size` rows of `candidates` that cover them all (greedy k-centre, PatchCore's coreset),
    chosen in a random projection to `dims` dimensions, which keeps the choice fast and nearly the same."""
    if size >= len(candidates):
        return torch.arange(len(candidates))
    generator = torch.Generator().manual_seed(seed)
    projection = torch.randn(candidates.shape[1], dims, generator=generator) / dims**0.5
    projected = candidates @ projection
    chosen = torch.empty(size, dtype=torch.long)
    chosen[0] = int(torch.randint(len(projected), (1,), generator=generator))
    distances = ((projected - projected[chosen[0]]) ** 2).sum(1)
    for step in range(1, size):
        chosen[step] = int(distances.argmax())
        distances = torch.minimum(distances, ((projected - projected[chosen[step]]) ** 2).sum(1))
    return chosen
