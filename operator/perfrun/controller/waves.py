"""A run's environment applied in waves: the objects in one wave side by side, the waves one
after another (issue 18).

Applied one after another, a run's ~15 objects held its reconcile's thread for the sum of
their writes (7-8 s at 200 runs, a Service ~3 s under load) and every other run's tick queued
behind it. Only one order matters: nothing that runs (a pod, or what makes pods) exists
before the fence, the RBAC, the Secrets, ConfigMaps and Services it relies on. So the first
wave is everything else but the RoleBindings, the second the RoleBindings, the third the
workloads. A RoleBinding needs its Role to exist when the operator is not cluster-admin: the
API server checks that whoever binds a Role holds what it grants (RBAC's escalation check),
and a Role written beside its binding is "not found" (the chart's least-privilege RBAC,
tests/charts/test_chart.py). Within a wave nothing depends on another object (a Service
selects pods that come later).

The writes of all runs share one bounded pool (``Waves``), so 200 runs' reconciles never
mean more than ``workers`` applies in flight on top of the handler threads themselves."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from perfrun.controller.refusal import ObjectRefusedError

Manifest = dict[str, Any]
# Kinds that make pods (or are pods): applied only after every other object of the run.
WORKLOAD_KINDS = frozenset(
    {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}
)
# Kinds that name a Role the API server must find when they are written.
BINDING_KINDS = frozenset({"RoleBinding", "ClusterRoleBinding"})


def waves(manifests: Sequence[Manifest]) -> list[list[Manifest]]:
    """The manifests in apply waves, each in its given order: the bindings after the Roles,
    what runs pods last."""
    found: list[list[Manifest]] = [[], [], []]
    for m in manifests:
        found[_wave(m["kind"])].append(m)
    return [wave for wave in found if wave]


def _wave(kind: str) -> int:
    return 2 if kind in WORKLOAD_KINDS else 1 if kind in BINDING_KINDS else 0


class Waves:
    """Runs each wave's calls at once, at most ``workers`` of all runs' calls in flight."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="perfrun-apply")

    def run(self, calls: Sequence[Callable[[], None]]) -> None:
        """Every call, the first in this thread and the others in the pool; returns when all
        ended. Raises when one raised: a refusal first (it ends the run, naming the object),
        else the first error in the wave's order -- after the others ended, so the next
        reconcile finds each object written or not, never a write still in flight."""
        if not calls:
            return
        futures: list[Future[None]] = [self._pool.submit(call) for call in calls[1:]]
        errors: list[BaseException] = []
        try:
            calls[0]()
        except Exception as exc:
            errors.append(exc)
        wait(futures)
        errors += [e for e in (f.exception() for f in futures) if e is not None]
        if errors:
            raise next((e for e in errors if isinstance(e, ObjectRefusedError)), errors[0])

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


def apply_in_waves(
    manifests: Sequence[Manifest],
    apply: Callable[[Manifest], None],
    pool: Waves | None,
) -> None:
    """``apply`` each manifest, wave after wave; without a pool one after another (in
    order), as before."""
    if pool is None:
        for manifest in manifests:
            apply(manifest)
        return
    for wave in waves(manifests):
        pool.run([functools.partial(apply, manifest) for manifest in wave])
