"""An `after_epoch` for the replica tests, in a module of its own: spawned replicas unpickle it by importing
its module, and a test module's imports (pytest, Kedro, MLflow) took each replica 3 s more to start."""

from __future__ import annotations

from crack_pipeline.vision.errors import InputError


def killed_after_epoch_3(model, epoch: int) -> bool:
    """Kills its replica once epoch 3 is saved. Not KeyboardInterrupt: torch's process wrapper takes that for
    the parent's Ctrl-C and exits quietly. A user error, as training raises for a run that diverged or a full
    disk: the caller gets it as it is, not torch's ChildFailedError with the replica's traceback (which the
    command line showed whole)."""
    if epoch == 3:
        raise InputError("killed after epoch 3")
    return False
