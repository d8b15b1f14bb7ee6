"""In-flight slots: at most ``limit`` held at once, waiters served first in, first out. Pure:
a waiter is any token (the engine's are futures), and time plays no part, so the order and
the count are unit-testable."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

W = TypeVar("W")


class Slots(Generic[W]):
    """A counting semaphore that hands a released slot straight to the oldest live waiter
    (the slot stays held: no newcomer can take it in between)."""

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError("limit must be >= 0")
        self.limit = limit
        self.held = 0
        self._waiters: deque[W] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def try_take(self) -> bool:
        """Take a slot if one is free and nobody waits before us."""
        if self.held < self.limit and not self._waiters:
            self.held += 1
            return True
        return False

    def wait(self, waiter: W) -> None:
        """Queue ``waiter``; a later :meth:`release` hands it a slot."""
        self._waiters.append(waiter)

    def forget(self, waiter: W) -> bool:
        """Take ``waiter`` out of the queue (it gave up); False if it was not in it."""
        try:
            self._waiters.remove(waiter)
        except ValueError:
            return False
        return True

    def release(self, live: Callable[[W], bool]) -> W | None:
        """Give a slot back: to the oldest waiter for which ``live`` holds (returned; the
        slot stays held for it; dead waiters on the way are dropped), else to the pool."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if live(waiter):
                return waiter
        self.held -= 1
        return None
