"""The pure body builders of kube/reports.py and kube/baselines.py (their I/O is tested against
the real API server in tests/analysis/test_baseline_cluster.py and
tests/controller/test_analyze_cluster.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from perfrun.api.status import Results
from perfrun.kube import reports
from perfrun.kube.baselines import results_body
from perfrun.kube.reports import (
    ANNOTATION_KEEP_UNTIL,
    ANNOTATION_PERFRUN_UID,
    MAX_REPORT_BYTES,
    expired,
    report_body,
    report_labels,
    report_name,
)
from perfrun.render import context

RUN = {"metadata": {"name": "checkout-1-8-0", "namespace": "team", "uid": "u-1"}}


def test_report_label_keys_mean_what_they_mean_on_the_runs_objects() -> None:
    assert reports.LABEL_PERFRUN == context.LABEL_PERFRUN
    assert reports.LABEL_RUN == context.LABEL_RUN
    ctx = context.RunContext(name="checkout-1-8-0", perfrun_namespace="team", uid="u-1", image="i")
    labels = report_labels("checkout-1-8-0", ctx.run_id)
    # the same values as every object in the run's namespace carries under those keys
    assert labels[context.LABEL_RUN] == ctx.labels()[context.LABEL_RUN] == ctx.run_id
    assert labels[context.LABEL_PERFRUN] == ctx.labels()[context.LABEL_PERFRUN]


def test_report_without_a_run_id_has_no_run_label() -> None:
    labels = report_body(RUN, {"report.md": "x"})["metadata"]["labels"]
    assert labels[context.LABEL_PERFRUN] == "checkout-1-8-0"
    assert context.LABEL_RUN not in labels


def test_report_body_outlives_its_perfrun_until_keep_until_and_is_bounded() -> None:
    cm = report_body(RUN, {"report.md": "x"}, "checkout-1-8-0-x7k2a", "2027-01-01T00:00:00Z")
    assert (
        cm["metadata"]["name"] == report_name("checkout-1-8-0") == "perfrun-report-checkout-1-8-0"
    )
    assert cm["metadata"]["labels"][context.LABEL_RUN] == "checkout-1-8-0-x7k2a"
    # not owned: a GitOps prune of the PerfRun must not take the result with it
    assert "ownerReferences" not in cm["metadata"]
    assert cm["metadata"]["annotations"] == {
        ANNOTATION_PERFRUN_UID: "u-1",
        ANNOTATION_KEEP_UNTIL: "2027-01-01T00:00:00Z",
    }
    assert cm["metadata"]["labels"]["app.kubernetes.io/component"] == "report"
    no_uid = {"metadata": {"name": "r", "namespace": "team"}}
    assert report_body(no_uid, {})["metadata"]["annotations"] == {}
    now = datetime(2026, 6, 1, tzinfo=UTC)
    assert not expired(cm, now)
    assert expired(cm, datetime(2027, 1, 1, tzinfo=UTC))
    assert not expired(report_body(no_uid, {}), now)  # no keep-until: kept
    with pytest.raises(ValueError, match="more than"):
        report_body(RUN, {"report.json": "x" * (MAX_REPORT_BYTES + 1)})


def test_results_body_promotes_results_before_any_status_is_written() -> None:
    meta = {"name": "r1", "namespace": "team", "labels": {"release": "1.8.0"}}
    results = Results(p99_ms=212.5, error_rate=0.004, sources={"p99Ms": "loadSummary"})
    body = results_body(meta, results, "Passed", "checkout-main", "2026-01-01T00:00:00Z")
    assert body["metadata"] == {
        "name": "checkout-main",
        "namespace": "team",
        "labels": {"app.kubernetes.io/managed-by": "perfrun-operator"},
    }
    assert body["spec"]["values"] == {"p99Ms": 212.5, "errorRate": 0.004}
    assert body["spec"]["sources"] == {"p99Ms": "loadSummary"}
    assert body["spec"]["source"] == {
        "run": "r1",
        "namespace": "team",
        "promotedAt": "2026-01-01T00:00:00Z",
        "verdict": "Passed",
        "release": "1.8.0",
    }


def test_kube_labels_mean_what_the_renderers_labels_mean() -> None:
    from perfrun.kube import reports
    from perfrun.render import context

    assert reports.LABEL_MANAGED_BY == context.LABEL_MANAGED_BY
    assert reports.MANAGED_BY == context.MANAGED_BY
    assert reports.LABEL_PERFRUN == context.LABEL_PERFRUN
    assert reports.LABEL_RUN == context.LABEL_RUN
