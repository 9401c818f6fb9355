"""Which parts of a network train: a frozen backbone (`freeze_backbone_epochs`) and its batch norms."""

from __future__ import annotations

from torch import nn

from crack_pipeline.vision.models.registry import ModelSpec


def set_backbone_trainable(model: nn.Module, spec: ModelSpec, trainable: bool) -> None:
    for parameter in _backbone_parameters(model, spec):
        parameter.requires_grad_(trainable)


def hold_frozen_statistics(model: nn.Module, spec: ModelSpec) -> None:
    """Batch norms whose weights are frozen keep their running statistics too (eval mode), and so do those
    of a frozen backbone that have no weights (affine=False). In train mode they followed each augmented
    batch while their weights stood still (a frozen backbone's epochs): the head learned on features that
    evaluation never saw (Özgenel: validation loss 0.011 after the head stage, 0.29 after one frozen epoch).
    For a backbone that starts trained (ImageNet's, `init_from`) only: a random one's statistics are their
    initial 0 and 1 till it learns them (small_cnn from scratch, frozen for 2 epochs with them held: test
    accuracy 0.5)."""
    head = {id(module) for module in model.get_submodule(spec.head).modules()}
    backbone_trains = any(p.requires_grad for p in _backbone_parameters(model, spec))
    for module in model.modules():
        if not isinstance(module, nn.modules.batchnorm._BatchNorm):
            continue
        if weights := list(module.parameters(recurse=False)):
            module.train(any(w.requires_grad for w in weights))
        elif id(module) not in head:  # affine=False: no weights to tell, but the backbone's all the same
            module.train(backbone_trains)


def _backbone_parameters(model: nn.Module, spec: ModelSpec) -> list[nn.Parameter]:
    """The parameters outside the head: those `set_backbone_trainable` freezes."""
    head = {id(p) for p in model.get_submodule(spec.head).parameters()}
    return [parameter for parameter in model.parameters() if id(parameter) not in head]
