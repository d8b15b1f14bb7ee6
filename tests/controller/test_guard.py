"""The tick guard (controller/guard.py): consecutive faults per run, where they were raised,
and the terminal status the limit writes. Real exceptions with real tracebacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import kopf
import pytest
from tests.support.kubeconfig import write_kubeconfig
from tests.support.perfruns import minimal

from perfrun.api.times import parse_time
from perfrun.controller import guard, handlers
from perfrun.kube.errors import KindNotServedError, KubeError, is_api_trouble

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def _raised() -> ValueError:
    try:
        parse_time("yesterday")
    except ValueError as exc:
        return exc
    raise AssertionError("parse_time took 'yesterday'")


def _body(status: dict[str, Any] | None = None) -> dict[str, Any]:
    doc = minimal("faulty", keepOnFailure="1m")
    doc["metadata"].update(namespace="team", uid="u-1", generation=2)
    if status is not None:
        doc["status"] = status
    return doc


def test_faults_count_per_run_in_a_row_and_clear() -> None:
    counter = guard.FaultCounter()
    assert [counter.fault("a") for _ in range(3)] == [1, 2, 3]
    assert counter.fault("b") == 1
    counter.clear("a")
    assert counter.fault("a") == 1


def test_where_names_the_library_frame_and_our_two_innermost() -> None:
    text = guard.where(_raised())
    assert "_strptime.py" in text.split(" from ")[0]
    assert "perfrun/api/times.py" in text and "(parse_time)" in text
    assert "test_guard.py" not in text  # only the package's own frames are named


def test_the_limit_ends_a_run_in_progress_failed_naming_type_and_place() -> None:
    body = _body({"phase": "Loading", "startedAt": "yesterday", "namespace": "perf-x"})
    result = guard.give_up(body, _raised(), guard.LIMIT, NOW)
    patch = result.patch
    assert patch["phase"] == "Failed" and not result.delete_namespace
    assert "ValueError" in patch["message"] and "perfrun/api/times.py" in patch["message"]
    assert "phase Loading 3 times in a row" in patch["message"]
    assert "yesterday" not in patch["message"]  # the exception's text stays in the log
    delay = parse_time(patch["deleteAt"]) - parse_time(patch["finishedAt"])
    assert delay == timedelta(minutes=1)  # keepOnFailure, as for any failed run
    by_type = {c["type"]: c for c in patch["conditions"]}
    assert by_type["Stalled"]["status"] == "True"
    assert by_type["Stalled"]["reason"] == guard.REASON
    assert by_type["Finished"]["status"] == "True" and by_type["Ready"]["status"] == "False"
    assert [(e.type, e.reason) for e in result.events] == [("Warning", guard.REASON)]


def test_a_status_our_models_refuse_is_replaced_not_a_second_fault() -> None:
    body = _body({"phase": "Loading", "conditions": [{"type": "Ready"}]})  # no status/reason
    result = guard.give_up(body, _raised(), 3, NOW)
    assert result.patch["phase"] == "Failed" and result.patch["finishedAt"]


def test_a_finished_run_whose_ticks_keep_failing_loses_its_namespace_now() -> None:
    body = _body({"phase": "Succeeded", "finishedAt": "garbage", "namespace": "kube-system"})
    result = guard.give_up(body, _raised(), 3, NOW)
    assert result.patch == {} and result.delete_namespace  # the namespace its uid makes
    assert "deleting the run's namespace" in result.events[0].message


@pytest.mark.parametrize(
    ("exc", "api"),
    [
        (KubeError(503, "Service Unavailable"), True),
        (KubeError(409, "Conflict"), True),
        (KindNotServedError("no such kind"), True),
        (TimeoutError("read timed out"), True),
        (ConnectionRefusedError(), True),
        (ValueError("x"), False),
        (KeyError("metadata"), False),
        (ZeroDivisionError(), False),
    ],
)
def test_api_trouble_is_told_from_our_faults(exc: Exception, api: bool) -> None:
    assert is_api_trouble(exc) is api


def test_an_unreachable_api_server_is_retried_by_kopf_and_never_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real client against a port nobody listens on: every tick raises the connection
    error to kopf (which retries after its backoff); no fault is counted, nothing ends."""
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    handlers._kube.cache_clear()
    try:
        body = _body({"phase": "Loading", "startedAt": "2026-01-01T11:00:00Z"})
        for _ in range(guard.LIMIT + 2):
            patch = kopf.Patch()
            with pytest.raises(Exception) as raised:
                handlers._reconcile_into(kopf.Body(body), patch)
            assert is_api_trouble(raised.value), raised.value
            assert not patch
        assert handlers._faults.fault("u-1") == 1  # none counted before
    finally:
        handlers._faults.clear("u-1")
        handlers._kube.cache_clear()
