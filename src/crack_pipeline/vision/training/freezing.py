"""Which parts of a network train: a frozen backbone (`freeze_backbone_epochs`) and its batch norms."""

from __future__ import annotations

from torch import nn

from crack_pipeline.vision.models.registry import ModelSpec


def set_backbone_trainable(model: nn.Module, spec: ModelSpec, trainable: bool) -> None:
    head = {id(p) for p in model.get_submodule(spec.head).parameters()}
    for parameter in model.parameters():
        if id(parameter) not in head:
            parameter.requires_grad_(trainable)


def hold_frozen_statistics(model: nn.Module) -> None:
    """Batch norms whose weights are frozen keep their running statistics too (eval mode). In train mode
    they followed each augmented batch while their weights stood still (a frozen backbone's epochs): the head
    learned on features that evaluation never saw (Özgenel: validation loss 0.011 after the head stage,
    0.29 after one frozen epoch). For a backbone that starts trained (ImageNet's, `init_from`) only: a
    random one's statistics are their initial 0 and 1 till it learns them (small_cnn from scratch, frozen
    for 2 epochs with them held: test accuracy 0.5)."""
    for module in model.modules():
        weights = list(module.parameters(recurse=False))
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and weights:
            module.train(any(w.requires_grad for w in weights))
