"""The run's verdict: the worst of its gates and regressions (pure)."""

from __future__ import annotations

from collections.abc import Iterable

from perfrun.api.status import Verdict

# Failed beats Inconclusive: a definite breach is news even when another gate lacked data.
_RANK = {Verdict.PASSED: 0, Verdict.INCONCLUSIVE: 1, Verdict.FAILED: 2}


def worst(outcomes: Iterable[Verdict | str]) -> Verdict:
    """The worst outcome; Passed for none (callers decide what an empty judgement means)."""
    out = Verdict.PASSED
    for o in outcomes:
        v = Verdict(o)
        if _RANK[v] > _RANK[out]:
            out = v
    return out
