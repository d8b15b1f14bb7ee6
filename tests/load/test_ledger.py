"""The open model's per-step slot ledger: due, late, dropped."""

from __future__ import annotations

from perfrun.load.ledger import StepLedger


def test_late_and_dropped_are_counted_per_step() -> None:
    ledger = StepLedger(2, late_s=0.01)
    ledger.due[0] += 3
    ledger.sent(0, 0.0)
    ledger.sent(0, 0.05)
    ledger.drop(0)
    ledger.due[1] += 1
    ledger.sent(1, 0.009)
    assert (ledger.late, ledger.dropped) == ([1, 0], [1, 0])
    assert ledger.max_late_s == [0.05, 0.009]
    assert ledger.dropped_share(0) == 1 / 3 and ledger.dropped_share(1) == 0.0
    assert ledger.total_dropped == 1


def test_a_step_with_nothing_due_has_no_dropped_share() -> None:
    assert StepLedger(1).dropped_share(0) == 0.0
