"""Deletion/insertion on a model whose evidence sits in a known place."""

import numpy as np
import torch
from torch import nn

from crack_pipeline.vision.explain.perturbation import deletion_insertion
from crack_pipeline.vision.models.precision import Precision


class LeftHalfDetector(nn.Module):
    """p(class 1) grows with the contrast of the image's left half: the evidence is on the left."""

    def forward(self, x):
        left = x[:, :, :, : x.shape[3] // 2]
        score = 20 * left.std(dim=(1, 2, 3))
        return torch.stack([torch.zeros_like(score), score - 2], dim=1)


def test_a_heatmap_on_the_evidence_beats_one_beside_it():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    right, left = np.zeros((4, 32, 32), np.float32), np.zeros((4, 32, 32), np.float32)
    left[:, :, :16] = 1 + np.random.default_rng(0).random((4, 32, 16))
    right[:, :, 16:] = 1 + np.random.default_rng(1).random((4, 32, 16))
    args = ([1] * 4, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), Precision("fp32"))
    good_deletion, good_insertion = deletion_insertion(LeftHalfDetector(), images, left, *args)
    bad_deletion, bad_insertion = deletion_insertion(LeftHalfDetector(), images, right, *args)
    assert good_deletion < bad_deletion
    assert good_insertion > bad_insertion
    assert 0 <= good_deletion <= 1 and 0 <= good_insertion <= 1
