"""In-flight slots: never more than the limit held, waiters served first in, first out, a
released slot handed over (not returned to the pool) while someone waits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfrun.load.slots import Slots


def live(_: object) -> bool:
    return True


def test_takes_up_to_the_limit_then_refuses() -> None:
    s: Slots[str] = Slots(2)
    assert s.try_take() and s.try_take()
    assert not s.try_take()
    assert s.held == 2


def test_a_release_goes_to_the_oldest_waiter_and_stays_held() -> None:
    s: Slots[str] = Slots(1)
    assert s.try_take()
    s.wait("a")
    s.wait("b")
    assert s.release(live) == "a"
    assert s.held == 1  # handed over: a newcomer cannot slip in
    assert not s.try_take()
    assert s.release(live) == "b"
    assert s.release(live) is None
    assert s.held == 0


def test_nobody_jumps_the_queue_while_a_slot_is_free() -> None:
    s: Slots[str] = Slots(2)
    assert s.try_take() and s.try_take()
    s.wait("a")
    assert s.release(lambda w: False) is None  # "a" gave up meanwhile: dropped, slot freed
    assert s.waiting == 0 and s.held == 1
    s.wait("b")
    assert not s.try_take()  # free slot, but "b" waits first


def test_dead_waiters_are_skipped_and_forget_removes_one() -> None:
    s: Slots[str] = Slots(1)
    s.try_take()
    for w in ("dead", "gone", "c"):
        s.wait(w)
    assert s.forget("gone") and not s.forget("gone")
    assert s.release(lambda w: w != "dead") == "c"
    assert s.waiting == 0


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError):
        Slots(-1)


@given(limit=st.integers(0, 8), ops=st.lists(st.sampled_from(["take", "wait", "release"])))
def test_never_more_than_the_limit_and_fifo(limit: int, ops: list[str]) -> None:
    s: Slots[int] = Slots(limit)
    queued: list[int] = []
    served: list[int] = []
    for n, op in enumerate(ops):
        if op == "take":
            s.try_take()
        elif op == "wait":
            s.wait(n)
            queued.append(n)
        elif s.held:
            w = s.release(live)
            if w is not None:
                served.append(w)
        assert 0 <= s.held <= limit
    assert served == queued[: len(served)]
