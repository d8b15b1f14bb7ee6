"""PERFRUN_WORKERS: how many handlers (ticks, teardowns) run at once, and the API client's
connections to match (issue 18; the client's side: tests/kube/test_client_connections.py)."""

from __future__ import annotations

import pytest

from perfrun.controller.settings import (
    DEFAULT_ANALYSIS_WORKERS,
    DEFAULT_WORKERS,
    OperatorSettings,
)


def test_default_and_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERFRUN_WORKERS", raising=False)
    assert OperatorSettings.from_env().workers == DEFAULT_WORKERS
    monkeypatch.setenv("PERFRUN_WORKERS", "48")
    assert OperatorSettings.from_env().workers == 48


@pytest.mark.parametrize("bad", ["0", "-3", "many", "2.5"])
def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("PERFRUN_WORKERS", bad)
    with pytest.raises(ValueError, match="PERFRUN_WORKERS"):
        OperatorSettings.from_env()


def test_analysis_workers_default_set_and_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERFRUN_ANALYSIS_WORKERS", raising=False)
    assert OperatorSettings.from_env().analysis_workers == DEFAULT_ANALYSIS_WORKERS
    monkeypatch.setenv("PERFRUN_ANALYSIS_WORKERS", "2")
    assert OperatorSettings.from_env().analysis_workers == 2
    monkeypatch.setenv("PERFRUN_ANALYSIS_WORKERS", "0")
    with pytest.raises(ValueError, match="PERFRUN_ANALYSIS_WORKERS"):
        OperatorSettings.from_env()
