"""Analyses off the tick thread: a small pool of their own and one future per run.

An analysis queries Prometheus with timeouts and retries: a Prometheus that never answers
holds its analysis for a minute or more. Run in the tick, that held a handler thread (all of
them, with enough such runs); here the tick starts the run's analysis once, looks at its
future on each later tick and carries on with everything else meanwhile. The future is keyed
by the run's uid and load window, so a repeated tick never starts a second one, and a
restarted operator (which lost the futures) starts it again -- the analysis is idempotent
(its report and promotion are server-side applies)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)
DEFAULT_WORKERS = 4
Key = tuple[str, str]  # (run uid, load window)
Result = dict[str, Any]


class Analyses:
    """At most ``workers`` analyses at once; ``on_done(uid)`` when one ends."""

    def __init__(
        self, workers: int = DEFAULT_WORKERS, on_done: Callable[[str], None] | None = None
    ):
        self.workers = workers
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="perfrun-analysis")
        self._futures: dict[Key, Future[Result]] = {}
        self._lock = threading.Lock()
        self._on_done = on_done

    def poll(self, key: Key, start: Callable[[], Result]) -> Result | None:
        """The run's analysis result once it is done (its exception raised here), else None:
        started now when it was not running."""
        with self._lock:
            future = self._futures.get(key)
            if future is None:
                future = self._pool.submit(start)
                self._futures[key] = future
                if self._on_done is not None:
                    on_done = self._on_done
                    future.add_done_callback(lambda _f: on_done(key[0]))
                return None
            if not future.done():
                return None
            del self._futures[key]
        return future.result()

    def running(self) -> int:
        with self._lock:
            return sum(not f.done() for f in self._futures.values())

    def forget(self, uid: str) -> None:
        """A deleted run's analysis: its result is not wanted (a running one finishes)."""
        with self._lock:
            for key in [k for k in self._futures if k[0] == uid]:
                self._futures.pop(key).cancel()
