"""What a run says as it registers a model version: one line of its own (`tracking`), in place of MLflow's."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import sys
import threading
from collections.abc import Iterator

logger = logging.getLogger(__name__)

# MLflow prints these to stderr itself, not through logging (mlflow.tracking._model_registry.fluent's
# eprint), at every registration: "Registered model 'crack-classifier' already exists. Creating a new
# version of this model..." and "Created version '7' of model 'crack-classifier'." (no variant, no level).
_MLFLOW_REGISTRATION_LINES = re.compile(
    r"(Successfully registered model '|Registered model '.*' already exists\. |Created version ')"
)
# sys.stderr is one for all threads: two registrations at once (variants under --runner=ThreadRunner), each
# putting back the stream it found, left the other's buffer as sys.stderr for good, every later warning and
# traceback lost. One block at a time puts back the real one.
_ONE_AT_A_TIME = threading.Lock()


@contextlib.contextmanager
def without_mlflow_registration_lines() -> Iterator[None]:
    """The block's stderr passed on after it (a failure's too), but for MLflow's registration lines: a warning
    printed meanwhile still reaches the user."""
    printed = io.StringIO()
    try:
        with _ONE_AT_A_TIME, contextlib.redirect_stderr(printed):
            yield
    finally:
        for line in printed.getvalue().splitlines(keepends=True):
            if not _MLFLOW_REGISTRATION_LINES.match(line):
                sys.stderr.write(line)


def say_registered(variant: str, model: str, version: str | int) -> None:
    """The line a registration is said in: which variant became which version."""
    logger.info("train: %s registered as version %s of model %s", variant, version, model)
