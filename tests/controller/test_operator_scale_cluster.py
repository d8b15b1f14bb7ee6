"""Scaling regression (issue 18): twenty minimal PerfRuns at once on one real operator. Each
run stays within the write budget (counted by the API server's audit log, not by the
operator) and the read budget (its namespace is read from the informer cache: a handful of
GETs in its whole life, none while idle), every run reaches a terminal state, and after one
``kubectl delete`` no run and no run namespace is left behind. The full table is
``bench/operator_scale.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.cluster import KubeCluster
from tests.support.scale import TERMINAL, measure

pytestmark = pytest.mark.cluster

RUNS = 20
WRITES_PER_RUN = 50  # issue 18's budget; a minimal run costs ~40 today
# GETs and LISTs per run over its whole life (the namespace before creating it and twice at
# teardown, the janitor's look at its PerfRun, the load summaries). Before the informer cache
# a run cost 13-16 reads per reconcile, every 2 s: hundreds.
READS_PER_RUN = 20
IDLE_READS_PER_RUN_S = 0.05  # a finished run waiting for its TTL: well under 1 request/s


@pytest.mark.timeout(300)
def test_twenty_concurrent_runs_stay_in_the_budgets_and_leave_nothing_behind(
    kube_cluster: KubeCluster, perfrun_crds: None, tmp_path: Path
) -> None:
    r = measure(
        kube_cluster, RUNS, work=tmp_path, load_seconds=5, idle_seconds=10, interval=1,
        timeout=200,
    )  # fmt: skip
    logs = r.log.read_text()[-4000:] if r.log else ""
    assert len(r.phases) == RUNS, logs
    assert all(phase in TERMINAL for phase in r.phases.values()), (r.phases, logs)
    assert len(r.finished_s) == RUNS  # each says Finished=True (kubectl wait works)
    assert r.left_behind == [], logs
    assert r.perfruns_left == [], logs  # every finalizer released
    assert len(r.gone_s) == RUNS
    namespace_creates = {k: v for k, v in r.audit_writes.items() if k.endswith(" namespaces")}
    assert namespace_creates == {
        "perfrun create namespaces": RUNS,
        "perfrun delete namespaces": RUNS,
    }, "each run namespace created once and deleted once"
    per_run = r.writes_per_run()
    print(f"{RUNS} runs: {per_run:.1f} writes per run: {dict(r.audit_writes.most_common())}")
    assert per_run <= WRITES_PER_RUN, dict(r.audit_writes)
    reads = {k: v for k, v in r.requests.items() if k.split()[0] in ("get", "list")}
    print(f"{RUNS} runs: {r.reads() / RUNS:.1f} reads per run: {reads}")
    assert r.reads() / RUNS <= READS_PER_RUN, reads
    assert r.reads_per_run_s(r.idle) <= IDLE_READS_PER_RUN_S, r.idle
    assert r.reconcile_errors == 0, logs
    assert r.tick_failures == 0, logs
