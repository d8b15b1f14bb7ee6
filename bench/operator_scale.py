"""One operator, N concurrent minimal PerfRuns, on the local control plane with kwok nodes
(issue 18): apply -> EnvironmentReady and -> Finished (against the run's configured load
duration), operator RSS peak and CPU, API requests per second by verb (counted at the
client), writes per run (the API server's audit log), reconcile errors, delete -> namespace
gone. What is counted how: tests/support/scale.py. Only the local cluster is contacted.

    .venv/bin/python bench/operator_scale.py [--runs 10,25,50] [--load-seconds 20]
      [--idle 20] [--interval 2] [--arrival burst|kubectl] [--json out.json]

--arrival: "burst" (the default) creates the N runs with 32 requests in flight, all within a
few seconds; "kubectl" applies them with one `kubectl apply -f`, one request after another,
as a person or a GitOps tool would (200 then arrive over about a minute).

The machine is shared: the figures are noisy (load average and nproc are printed).
apply -> EnvironmentReady includes the test cluster's kube-controller-manager and scheduler
creating and binding the pods, at the client rate limits e2e/cluster.sh gives them
(PERFRUN_KCM_QPS, PERFRUN_SCHEDULER_QPS; the upstream defaults would dominate at N=200).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.cluster import KubeCluster, run_cluster_sh
from tests.support.floor import Floor, measure_floor
from tests.support.scale import (
    ARRIVALS,
    CREATE_THREADS,
    REPO_ROOT,
    WRITE_VERBS,
    ScaleResult,
    measure,
    percentile,
)


def cluster() -> KubeCluster:
    run_cluster_sh("up")
    kubeconfig = Path(run_cluster_sh("kubeconfig", timeout=60).stdout.strip())
    bin_dir = Path(run_cluster_sh("bin-dir", timeout=60).stdout.strip())
    kube = KubeCluster(kubeconfig=kubeconfig, bin_dir=bin_dir)
    applied = kube.kubectl(
        "apply", "--server-side", "--force-conflicts", "--field-manager=perfrun-tests",
        "-o", "name", "-f", str(REPO_ROOT / "crds"),
    )  # fmt: skip
    crds = [n for n in applied.stdout.split() if n.startswith("customresourcedefinition")]
    kube.kubectl("wait", "--for=condition=Established", *crds, "--timeout=60s")
    return kube


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def python_speed() -> float:
    """Millions of simple Python loop steps per second, best of 3: a yardstick for the CPU."""
    best = 0.0
    for _ in range(3):
        t0, k = time.perf_counter(), 0
        for i in range(2_000_000):
            k += i & 7
        best = max(best, 2.0 / (time.perf_counter() - t0))
    return best


def by_verb(counts: Counter[str]) -> Counter[str]:
    verbs: Counter[str] = Counter()
    for key, value in counts.items():
        verbs[key.split()[0]] += value
    return verbs


def rate_line(what: str, seconds: float, counts: Counter[str], n: int) -> str:
    if seconds <= 0:
        return f"  {what}: no window"
    verbs = by_verb(counts)
    reads = sum(v for k, v in verbs.items() if k not in WRITE_VERBS and k != "watch")
    parts = ", ".join(f"{k} {v / seconds:.2f}" for k, v in sorted(verbs.items()))
    return (
        f"  {what} ({seconds:.0f} s): {parts} req/s; reads (get+list) per run "
        f"{reads / seconds / n:.3f} req/s"
    )


def report(r: ScaleResult) -> str:
    def p(values: list[float]) -> str:
        return f"p50 {percentile(values, 50):6.1f} s  p99 {percentile(values, 99):6.1f} s"

    terminal = sum(1 for ph in r.phases.values() if ph in ("Succeeded", "Failed", "Expired"))
    load = float(r.load_seconds)
    ratio = [f / load for f in r.finished_s]
    verbs = by_verb(r.requests)
    lines = [
        f"N={r.n}  (reconcile interval {r.interval:g} s, configured load {r.load_seconds} s"
        f"{', ' + ' '.join(r.env) if r.env else ''})",
        f"  terminal: {len(r.phases)}/{r.n} seen, phases {dict(Counter(r.phases.values()))}, "
        f"verdicts {dict(Counter(r.verdicts.values()))}  ({terminal} ended normally)",
        "  why they ended: "
        + ", ".join(f"{k} {v}" for k, v in Counter(r.reasons.values()).most_common(8)),
        *(f"    {k}: {m[:240]}" for k, m in sorted(r.reason_messages.items())),
        f"  created: all {len(r.created_s)} within "
        f"{(max(r.created_s) - min(r.created_s)) if r.created_s else 0:.0f} s "
        f"({_ARRIVAL[r.arrival]}); each run's times below are from its own creation",
        f"  apply -> EnvironmentReady: {p(r.env_ready_s)}",
        "  on the way (from apply, p50/p99 s): "
        + ", ".join(
            f"{k} {percentile(v, 50):.0f}/{percentile(v, 99):.0f}" for k, v in r.stages.items()
        ),
        f"  apply -> Finished:         {p(r.finished_s)}   overhead ratio "
        f"(Finished / load) p50 {percentile(ratio, 50):.2f} p99 {percentile(ratio, 99):.2f}",
        f"  delete -> namespace gone:  {p(r.gone_s)}   left behind: "
        f"{len(r.left_behind)} namespaces, "
        f"{len(r.perfruns_left)} PerfRuns",
        f"  operator: RSS peak {r.rss_peak_mib:.0f} MiB, CPU {r.cpu_s:.1f} s over "
        f"{r.wall_s:.0f} s wall ({r.cpu_s / max(r.wall_s, 1):.2f} cores)",
        f"  requests (client-side, whole run): total {sum(r.requests.values())}: "
        + ", ".join(f"{k} {v}" for k, v in sorted(verbs.items()))
        + f"; {sum(r.requests.values()) / max(r.wall_s, 1):.1f} req/s",
        f"  reads (get+list) per run: {r.reads() / r.n:.1f} over its whole life; "
        f"{r.reads() / r.n / max(r.wall_s, 1):.3f} req/s per run averaged over the wall time; "
        f"all requests {sum(r.requests.values()) / r.n / max(r.wall_s, 1):.3f} req/s per run",
        rate_line("busy (all ready .. first finished)", *r.busy, r.n),
        rate_line("idle (all finished, before delete)", *r.idle, r.n),
        f"  writes per run: audit {r.writes_per_run():.1f} "
        f"(total {sum(r.audit_writes.values())}), client-side {r.client_writes() / r.n:.1f}",
        f"  reconcile errors: metric {r.reconcile_errors:g}, ERROR log lines {r.error_lines} "
        f"(ticks failed {r.tick_failures})",
        "  CPU s, apply .. all terminal: "
        + ", ".join(f"{k} {v:.0f}" for k, v in r.cluster_cpu_busy.items())
        + f", operator {r.operator_cpu_busy:.0f}; the rest (idle, delete): "
        + ", ".join(f"{k} {v:.0f}" for k, v in r.cluster_cpu_rest.items()),
        "  top requests: " + ", ".join(f"{k} {v}" for k, v in r.requests.most_common(8)),
        "  audit writes: " + ", ".join(f"{k} {v}" for k, v in r.audit_writes.most_common(10)),
    ]
    return "\n".join(lines)


def floor_report(floor: Floor, r: ScaleResult) -> str:
    """The peer measured in the same run: the same N environments written with no operator
    (tests/support/floor.py), and the operator's apply -> EnvironmentReady over it."""
    if not floor.ready_s:
        return f"  floor (no operator): none of {floor.n} ready"
    ratio = {
        q: percentile(r.env_ready_s, q) / max(percentile(floor.ready_s, q), 1e-9) for q in (50, 99)
    }
    return (
        f"  floor (the same {floor.n} environments written with no operator, "
        f"{floor.threads} writers, all written after {floor.written_s:.0f} s): "
        f"asked for -> workloads ready p50 {percentile(floor.ready_s, 50):.1f} s "
        f"p99 {percentile(floor.ready_s, 99):.1f} s ({floor.not_ready} not ready); "
        f"operator's EnvironmentReady over it p50 {ratio[50]:.2f}x p99 {ratio[99]:.2f}x"
    )


_ARRIVAL = {
    "burst": f"{CREATE_THREADS} creates in flight",
    "kubectl": "one kubectl apply -f of all, one request after another",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", default="10,25", help="comma-separated N values")
    parser.add_argument("--load-seconds", type=int, default=20)
    parser.add_argument("--idle", type=float, default=20.0, help="idle seconds before delete")
    parser.add_argument("--interval", type=float, default=None, help="PERFRUN_RECONCILE_INTERVAL")
    parser.add_argument("--timeout", type=float, default=1200.0)
    parser.add_argument(
        "--env", action="append", default=[], metavar="K=V", help="operator environment"
    )
    parser.add_argument(
        "--arrival", choices=ARRIVALS, default="burst",
        help="how the N runs are applied: all at once, or by one kubectl apply",
    )  # fmt: skip
    parser.add_argument(
        "--floor", action=argparse.BooleanOptionalAction, default=True,
        help="measure the floor first: the N environments written with no operator",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    kube = cluster()
    print(
        f"machine: {os.cpu_count()} CPUs ({cpu_model()}), load average "
        f"{os.getloadavg()[0]:.1f} (shared); {python_speed():.1f} M Python loop steps/s "
        "(machines differ between sessions: compare figures from one machine)"
    )
    results = []
    tmp = tempfile.mkdtemp(prefix="perfrun-scale-")  # kept: the operator logs
    print(f"work dir (operator logs, request counts): {tmp}")
    for n in (int(x) for x in args.runs.split(",")):
        floor = measure_floor(kube, n) if args.floor else None
        r = measure(
            kube, n, work=Path(tmp) / f"n{n}", load_seconds=args.load_seconds,
            idle_seconds=args.idle, interval=args.interval, timeout=args.timeout,
            progress=lambda msg: print(msg, file=sys.stderr, flush=True),
            env=dict(item.split("=", 1) for item in args.env), arrival=args.arrival,
        )  # fmt: skip
        print(report(r), flush=True)
        if floor is not None:
            print(floor_report(floor, r), flush=True)
        print(f"  load average now {os.getloadavg()[0]:.1f}", flush=True)
        results.append(r)
    if args.json:
        args.json.write_text(
            json.dumps([{**vars(r), "log": str(r.log)} for r in results], default=str)
        )
    return (
        0
        if all(r.all_terminal and not r.left_behind and not r.perfruns_left for r in results)
        else 1
    )


if __name__ == "__main__":
    sys.exit(main())
