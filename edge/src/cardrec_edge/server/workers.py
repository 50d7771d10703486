"""A bounded pool for the server's blocking work (decode, detect, embed, match), with back-pressure.

``workers`` threads run jobs in parallel (OpenCV and onnxruntime release the GIL); at most ``queue`` more wait
for a thread. Beyond that ``run`` raises ``Busy`` at once, and the server answers 503 with ``Retry-After``,
instead of letting requests pile up in memory.
"""
from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class Busy(RuntimeError):
    """Every worker is busy and the queue is full."""


def default_workers() -> int:
    """One worker per core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class WorkerPool:
    def __init__(self, workers: int, queue: int):
        if workers < 1 or queue < 0:
            raise ValueError(f"workers must be >= 1 and queue >= 0, got {workers} and {queue}")
        self.workers, self.queue = workers, queue
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="recognize")
        self._lock = threading.Lock()
        self.pending = 0  # running + waiting jobs

    def _done(self, _future) -> None:
        with self._lock:
            self.pending -= 1

    async def run(self, fn: Callable[..., T], *args) -> T:
        """``fn(*args)`` on a worker thread; ``Busy`` when ``workers + queue`` jobs are already pending."""
        with self._lock:
            if self.pending >= self.workers + self.queue:
                raise Busy(f"all {self.workers} workers are busy and {self.queue} requests are waiting")
            self.pending += 1
        try:
            future = self._executor.submit(fn, *args)
        except BaseException:
            self._done(None)
            raise
        future.add_done_callback(self._done)
        return await asyncio.wrap_future(future)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
