"""Two ways to spread work over the CPU cores: pure, picklable work over processes, and work that releases
the GIL (Pillow's resampling and codecs, large numpy operations) over threads."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _worker_count(items: list, workers: int | None) -> int:
    """`workers` (all cores when None), never more than there are items."""
    return min(workers or default_workers(), max(len(items), 1))


def exit_with(run: int) -> None:
    """Pool worker initialiser: end the worker once the process `run` that asked for the pool is gone
    (killed, say); else it would wait on its task queue for good, holding its memory."""

    def watch() -> None:
        while _alive(run):
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-run").start()


def _alive(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie, ended but not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: it runs
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:  # no /proc (not Linux): it runs as far as can be told
        return True


def parallel_map(
    function: Callable[[T], R],
    items: Iterable[T],
    workers: int | None = None,
    chunksize: int = 16,
    start_method: str = "forkserver",
    ahead: int | None = None,
) -> Iterator[R]:
    """`map(function, items)` in order, over `workers` processes (all cores when None; 1 runs inline).

    The default fork server is safe in a process whose torch thread pools already run. "fork"
    starts ~1 s faster (no re-imports) and suits work that never touches torch in the child.
    `ahead`: at most that many items are given to the workers before their results are asked for (one
    at a time), so the results waiting take the memory of `ahead` of them, not of all the items.
    """
    items = list(items)
    workers = _worker_count(items, workers)
    if workers <= 1:
        yield from map(function, items)
        return
    context = multiprocessing.get_context(start_method)
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=exit_with, initargs=(os.getpid(),)
    ) as pool:
        if ahead is None:
            yield from pool.map(
                function, items, chunksize=max(1, min(chunksize, len(items) // (4 * workers) or 1))
            )
            return
        waiting: deque[Future[R]] = deque()
        for item in items:
            waiting.append(pool.submit(function, item))
            if len(waiting) >= ahead:
                yield waiting.popleft().result()
        while waiting:
            yield waiting.popleft().result()


def thread_map(function: Callable[[T], R], items: Iterable[T], workers: int | None = None) -> list[R]:
    """`list(map(function, items))` over `workers` threads (all cores when None; 1 runs inline): for work
    that spends its time outside the GIL."""
    items = list(items)
    workers = _worker_count(items, workers)
    if workers <= 1:
        return list(map(function, items))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, items))
