"""PerfBaseline I/O: read one, promote a PerfRun's results into one (server-side apply).

The body builders are pure so they are tested without an API server; the functions that take
a ``Kube`` are the only I/O."""

from __future__ import annotations

from typing import Any

from perfrun.api.baseline import (
    BASELINE_API_VERSION,
    BASELINE_KIND,
    BaselineSource,
    BaselineValues,
    PerfBaseline,
    PerfBaselineSpec,
)
from perfrun.api.perfrun import API_VERSION, KIND
from perfrun.api.status import PerfRunStatus, Results
from perfrun.kube.client import Kube
from perfrun.kube.reports import LABEL_MANAGED_BY, MANAGED_BY

_VALUE_FIELDS = ("p50_ms", "p95_ms", "p99_ms", "error_rate", "throughput_rps", "max_queue_depth")


class PromotionError(ValueError):
    """A run that cannot become a baseline (no results, or not Passed without force)."""


def results_body(
    meta: dict[str, Any],
    results: Results,
    verdict: str | None,
    name: str,
    now: str,
    *,
    release: str | None = None,
) -> dict[str, Any]:
    """The PerfBaseline manifest ``name`` holding ``results`` of the PerfRun with metadata
    ``meta``, in that PerfRun's namespace. No verdict check: callers decide who may promote."""
    spec = PerfBaselineSpec(
        values=BaselineValues(**{f: getattr(results, f) for f in _VALUE_FIELDS}),
        sources=dict(results.sources),
        source=BaselineSource(
            run=meta.get("name"),
            namespace=meta.get("namespace"),
            promoted_at=now,
            verdict=verdict,
            release=release or (meta.get("labels") or {}).get("release"),
        ),
    )
    return {
        "apiVersion": BASELINE_API_VERSION,
        "kind": BASELINE_KIND,
        "metadata": {
            "name": name,
            "namespace": meta.get("namespace", "default"),
            "labels": {LABEL_MANAGED_BY: MANAGED_BY},
        },
        "spec": spec.to_wire(),
    }


def baseline_body(
    run: dict[str, Any], name: str, now: str, *, force: bool = False, release: str | None = None
) -> dict[str, Any]:
    """The PerfBaseline manifest promoting ``run`` (a PerfRun object as a dict)."""
    meta = run.get("metadata") or {}
    status = PerfRunStatus.model_validate(run.get("status") or {})
    if status.results is None:
        raise PromotionError(f"PerfRun {meta.get('name')} has no results yet")
    if status.verdict != "Passed" and not force:
        raise PromotionError(
            f"PerfRun {meta.get('name')} is {status.verdict or 'not finished'}, not Passed; "
            "use --force to promote it anyway"
        )
    return results_body(meta, status.results, status.verdict, name, now, release=release)


def promote(
    kube: Kube,
    run_name: str,
    namespace: str,
    name: str,
    now: str,
    *,
    force: bool = False,
    release: str | None = None,
) -> dict[str, Any]:
    """Read PerfRun ``run_name`` and apply its results as PerfBaseline ``name``."""
    run = kube.get(API_VERSION, KIND, run_name, namespace)
    if run is None:
        raise PromotionError(f"PerfRun {namespace}/{run_name} not found")
    return kube.apply(baseline_body(run, name, now, force=force, release=release))


def promote_results(
    kube: Kube,
    meta: dict[str, Any],
    results: Results,
    verdict: str | None,
    name: str,
    now: str,
    *,
    release: str | None = None,
) -> dict[str, Any]:
    """Apply ``results`` as PerfBaseline ``name`` (the operator promoting a run that has just
    passed, before its status is written); idempotent."""
    return kube.apply(results_body(meta, results, verdict, name, now, release=release))


def read_baseline(kube: Kube, name: str, namespace: str) -> PerfBaseline | None:
    obj = kube.get(BASELINE_API_VERSION, BASELINE_KIND, name, namespace)
    if obj is None:
        return None
    meta = obj.get("metadata") or {}
    return PerfBaseline.model_validate(
        {
            "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace")},
            "spec": obj.get("spec"),
        }
    )
