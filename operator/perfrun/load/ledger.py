"""Per-step bookkeeping of the open model's slots: how many fell due, how many went out late,
how many were dropped because they could not go out in time. Pure; the summary reports it as
k6 reports ``dropped_iterations``, and the analysis judges a run by it."""

from __future__ import annotations


class StepLedger:
    """Counts per ramp step. A slot is *late* when it went out more than ``late_s`` after
    its time (it still counts its latency from the slot), *dropped* when it did not go out."""

    def __init__(self, steps: int, late_s: float = 0.01) -> None:
        self.late_s = late_s
        self.due = [0] * steps
        self.dropped = [0] * steps
        self.late = [0] * steps
        self.max_late_s = [0.0] * steps

    def sent(self, step: int, lateness_s: float) -> None:
        if lateness_s > self.late_s:
            self.late[step] += 1
        self.max_late_s[step] = max(self.max_late_s[step], lateness_s)

    def drop(self, step: int) -> None:
        self.dropped[step] += 1

    def dropped_share(self, step: int) -> float:
        due = self.due[step]
        return self.dropped[step] / due if due else 0.0

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped)
