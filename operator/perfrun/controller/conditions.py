"""The conditions contract, as a pure function of the phase and the step outcomes.

kstatus (what Flux's health checks and Argo CD read): in progress -> Reconciling=True,
Ready=False; passed -> Ready=True; failed, invalid, expired, aborted -> Stalled=True,
Ready=False. ``Finished`` is True on any terminal outcome so ``kubectl wait
--for=condition=Finished`` returns for a pass and a fail alike; ``Succeeded`` says which."""

from __future__ import annotations

from dataclasses import dataclass

from perfrun.api.status import TERMINAL_PHASES, Condition, ConditionType, Phase

STEP_CONDITIONS = (
    ConditionType.ENVIRONMENT_READY,
    ConditionType.DATASET_RESTORED,
    ConditionType.LOAD_COMPLETED,
    ConditionType.GATES_PASSED,
)


@dataclass(frozen=True)
class Outcome:
    """One step condition's value: status True/False/Unknown, a CamelCase reason, a message."""

    status: str
    reason: str
    message: str = ""


def summary_conditions(phase: Phase, reason: str, message: str) -> dict[str, Outcome]:
    """Ready, Reconciling, Stalled, Finished, Succeeded for a phase. ``reason``/``message``
    explain the phase (e.g. ``ImagePullBackOff`` and which pod)."""
    if phase not in TERMINAL_PHASES:
        return {
            ConditionType.READY: Outcome("False", "InProgress", message),
            ConditionType.RECONCILING: Outcome("True", reason, message),
            ConditionType.STALLED: Outcome("False", "InProgress", ""),
            ConditionType.FINISHED: Outcome("False", "InProgress", message),
            ConditionType.SUCCEEDED: Outcome("Unknown", "InProgress", ""),
        }
    if phase == Phase.SUCCEEDED:
        return {
            ConditionType.READY: Outcome("True", reason, message),
            ConditionType.RECONCILING: Outcome("False", "Finished", ""),
            ConditionType.STALLED: Outcome("False", "Finished", ""),
            ConditionType.FINISHED: Outcome("True", reason, message),
            ConditionType.SUCCEEDED: Outcome("True", reason, message),
        }
    return {
        ConditionType.READY: Outcome("False", reason, message),
        ConditionType.RECONCILING: Outcome("False", "Finished", ""),
        ConditionType.STALLED: Outcome("True", reason, message),
        ConditionType.FINISHED: Outcome("True", reason, message),
        ConditionType.SUCCEEDED: Outcome("False", reason, message),
    }


def merge_conditions(
    existing: list[Condition],
    wanted: dict[str, Outcome],
    generation: int | None,
    now: str,
) -> list[Condition]:
    """The new condition list: ``lastTransitionTime`` moves only when a status changes, so an
    unchanged reconcile writes nothing."""
    by_type = {c.type: c for c in existing}
    out: list[Condition] = []
    order = [
        ConditionType.READY,
        ConditionType.RECONCILING,
        ConditionType.STALLED,
        ConditionType.FINISHED,
        ConditionType.SUCCEEDED,
        *STEP_CONDITIONS,
    ]
    for ctype in order:
        old = by_type.get(ctype)
        new = wanted.get(ctype)
        if new is None:
            if old is not None:
                out.append(old)
            continue
        transition = old.last_transition_time if old and old.status == new.status else now
        out.append(
            Condition(
                type=ctype,
                status=new.status,
                reason=new.reason,
                message=new.message[:32768],
                observed_generation=generation,
                last_transition_time=transition,
            )
        )
    return out
