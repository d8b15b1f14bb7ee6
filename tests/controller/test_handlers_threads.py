"""kopf runs the sync ``tick`` of many PerfRuns at once in its thread pool: the operator's
shared bookkeeping must hold under that (issue 18: at 25 concurrent runs an unguarded dict
broke ticks, which kopf then retried a minute later)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest

from perfrun.controller import handlers


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Threads switch every microsecond: a race shows within a few thousand calls."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


@pytest.mark.usefixtures("fast_switching")
def test_phase_gauge_bookkeeping_holds_under_concurrent_ticks_and_teardowns() -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(1000):
                name = f"ns/run-{worker}-{i % 50}"
                handlers._record(name, "Running")
                if i % 7 == 0:
                    handlers._forget(name)
        except Exception as exc:  # the race: "dictionary changed size during iteration"
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:1]
    handlers._phases.clear()
