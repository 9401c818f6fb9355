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


class _WithoutRegistrationLines(io.TextIOBase):
    """A stream that passes each line on to `target` as it is ended, but MLflow's registration lines."""

    def __init__(self, target):
        self._target, self._partial = target, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *ended, self._partial = (self._partial + text).split("\n")
        for line in ended:
            self._pass_on(line + "\n")
        return len(text)

    def close_line(self) -> None:
        if self._partial:
            self._pass_on(self._partial)
        self._partial = ""

    def _pass_on(self, line: str) -> None:
        if not _MLFLOW_REGISTRATION_LINES.match(line):
            self._target.write(line)
            self._target.flush()


@contextlib.contextmanager
def without_mlflow_registration_lines() -> Iterator[None]:
    """The block's stderr passed on line by line as it is printed (a warning reaches the user at once, and
    is not lost if the process is killed in the block), but for MLflow's registration lines."""
    with _ONE_AT_A_TIME:
        filtered = _WithoutRegistrationLines(sys.stderr)
        try:
            with contextlib.redirect_stderr(filtered):
                yield
        finally:
            filtered.close_line()


def say_registered(variant: str, model: str, version: str | int) -> None:
    """The line a registration is said in: which variant became which version."""
    logger.info("train: %s registered as version %s of model %s", variant, version, model)
