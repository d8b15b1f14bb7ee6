"""N concurrent minimal PerfRuns on one real operator, measured (issue 18).

Shared by ``bench/operator_scale.py`` (the table) and the suite's regression test (a budget):
one operator (``bench/counted_operator.py``: the real ``perfrun operator`` with its HTTP
requests counted at the client) watching one fresh namespace; N minimal PerfRuns applied in
one ``kubectl apply``; each run to its terminal state; an idle spell; all deleted together.

What is measured how:
  * apply -> EnvironmentReady / Finished: each PerfRun's own creationTimestamp and its
    conditions' lastTransitionTime (API server clock, 1 s resolution).
  * the configured duration: the sum of the ramp's holds; kwok holds the load pod Running for
    that long (``pod-complete`` delay annotation), so Finished minus it is the operator's
    overhead (no load runs: kwok cannot run containers).
  * delete -> namespace gone: from the one ``kubectl delete`` to the poll (0.5 s) that no
    longer lists the run's namespace.
  * requests: every request the operator process sends, counted at the client (its
    Kubernetes client via urllib3, kopf via aiohttp), by verb and resource.
  * writes: the API server's audit log (writes only), by User-Agent perfrun/ and kopf/, to
    the PerfRun namespace and the runs' namespaces -- as the API server saw them.
  * RSS peak: the process's VmHWM; CPU: its utime+stime (/proc).
  * reconcile errors: ``perfrun_reconcile_errors_total`` from the operator's /metrics, and
    the operator log's ERROR lines (kopf logs a handler that raised at ERROR).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from tests.support.cluster import KubeCluster
from tests.support.loadpods import KWOK_COMPLETE_DELAY
from tests.support.perfruns import minimal
from tests.support.waiting import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
COUNTED_OPERATOR = REPO_ROOT / "bench" / "counted_operator.py"
GROUP, VERSION, PLURAL = "perfrun.dev", "v1alpha1", "perfruns"
# How the N runs arrive. "burst": CREATE_THREADS creates in flight, all 200 within 3-5 s.
# "kubectl": one `kubectl apply -f` of all N documents, as a person or a GitOps tool applies
# them; it sends one request after another, and on the API server the operator is keeping busy
# 200 took ~58 s (so the runs arrive over a minute).
ARRIVALS = ("burst", "kubectl")
CREATE_THREADS = 32
TERMINAL = {"Succeeded", "Failed", "Expired", "Aborted", "Invalid"}
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
LABEL_PERFRUN_NAMESPACE = "perfrun.dev/perfrun-namespace"
LABEL_PERFRUN = "perfrun.dev/perfrun"  # the PerfRun's name[:63], on every object of a run


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _condition_time(obj: dict[str, Any], ctype: str) -> float | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype and cond.get("status") == "True":
            return _epoch(cond["lastTransitionTime"])
    return None


def terminal_reason(status: dict[str, Any]) -> tuple[str, str]:
    """("Type/Reason", message) of the condition that says why a run ended: Stalled if it is
    True, else the last False condition by transition time, else Finished's."""
    conds = status.get("conditions") or []
    by_type = {c.get("type"): c for c in conds}
    stalled = by_type.get("Stalled")
    if stalled and stalled.get("status") == "True":
        return f"Stalled/{stalled.get('reason', '-')}", stalled.get("message", "")
    false = [c for c in conds if c.get("status") == "False" and c.get("type") != "Stalled"]
    if false:
        last = max(false, key=lambda c: c.get("lastTransitionTime") or "")
        return f"{last.get('type')}/{last.get('reason', '-')}", last.get("message", "")
    finished = by_type.get("Finished") or {}
    return f"Finished/{finished.get('reason', '-')}", finished.get("message", "")


def run_doc(name: str, load_seconds: int) -> dict[str, Any]:
    """The minimal example, held Running by kwok for its configured load duration."""
    doc = minimal(name)
    doc["spec"]["load"]["ramp"]["steps"] = [{"rate": 10, "hold": f"{load_seconds}s"}]
    doc["spec"]["load"]["budget"]["maxDuration"] = f"{load_seconds + 60}s"
    doc["spec"]["load"]["podMetadata"] = {"annotations": {KWOK_COMPLETE_DELAY: f"{load_seconds}s"}}
    return doc


@dataclass
class Sample:
    at: float
    counts: Counter[str]


@dataclass
class ScaleResult:
    n: int
    load_seconds: int
    interval: float
    phases: dict[str, str] = field(default_factory=dict)
    verdicts: dict[str, str] = field(default_factory=dict)
    # Why each run ended ("Condition/Reason": Stalled's if True, else the last False one's),
    # so that a run that ended Failed with no verdict is explained.
    reasons: dict[str, str] = field(default_factory=dict)
    reason_messages: dict[str, str] = field(default_factory=dict)  # one message per reason
    arrival: str = "burst"  # one of ARRIVALS
    created_s: list[float] = field(default_factory=list)  # creation times (epoch s)
    env_ready_s: list[float] = field(default_factory=list)
    finished_s: list[float] = field(default_factory=list)
    gone_s: list[float] = field(default_factory=list)
    left_behind: list[str] = field(default_factory=list)  # run namespaces not gone
    perfruns_left: list[str] = field(default_factory=list)  # PerfRuns not gone after delete
    rss_peak_mib: float = 0.0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    requests: Counter[str] = field(default_factory=Counter)
    busy: tuple[float, Counter[str]] = field(default_factory=lambda: (0.0, Counter()))
    idle: tuple[float, Counter[str]] = field(default_factory=lambda: (0.0, Counter()))
    audit_writes: Counter[str] = field(default_factory=Counter)
    reconcile_errors: float = 0.0
    error_lines: int = 0
    tick_failures: int = 0  # kopf's "Timer 'tick' failed" (retried only a minute later)
    log: Path | None = None
    env: list[str] = field(default_factory=list)  # the operator's extra environment
    # CPU seconds of the cluster's processes from apply to all terminal, and over the rest
    cluster_cpu_busy: dict[str, float] = field(default_factory=dict)
    cluster_cpu_rest: dict[str, float] = field(default_factory=dict)
    operator_cpu_busy: float = 0.0
    # Where apply -> EnvironmentReady goes, per run, seconds from the PerfRun's creation to:
    # its namespace created, its last workload pod created (by kube-controller-manager), that
    # pod bound (scheduler), Ready (kwok), and EnvironmentReady (the operator seeing it).
    stages: dict[str, list[float]] = field(default_factory=dict)

    @property
    def all_terminal(self) -> bool:
        return len(self.phases) == self.n and all(p in TERMINAL for p in self.phases.values())

    def writes_per_run(self) -> float:
        return sum(self.audit_writes.values()) / self.n

    def reads(self, counts: Counter[str] | None = None) -> int:
        """GETs and LISTs (watches not: one long request each, not a poll)."""
        counts = self.requests if counts is None else counts
        return sum(v for k, v in counts.items() if k.split()[0] in ("get", "list"))

    def reads_per_run_s(self, window: tuple[float, Counter[str]]) -> float:
        """Reads per run per second in a window (busy or idle); NaN without one."""
        seconds, counts = window
        return self.reads(counts) / seconds / self.n if seconds > 0 else float("nan")

    def client_writes(self) -> int:
        return sum(v for k, v in self.requests.items() if k.split()[0] in WRITE_VERBS)


def _proc_stats(pid: int) -> tuple[float, float]:
    """(VmHWM MiB, user+system CPU seconds) of a live process."""
    hwm = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    return hwm, _cpu_seconds(Path(f"/proc/{pid}/stat").read_text())[1]


def _cpu_seconds(stat: str) -> tuple[str, float]:
    """(command name, user+system CPU seconds) from a /proc/<pid>/stat line."""
    head, rest = stat.rsplit(")", 1)
    fields = rest.split()
    return head.split("(", 1)[1], (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# by command name, which /proc cuts at 15 characters: kube-controller-manager is
# "kube-controller"
CLUSTER_PROCESSES = (
    "etcd", "kube-apiserver", "kube-controller", "kube-scheduler", "kwok", "kubelet",
    "containerd",
)  # fmt: skip


def cluster_cpu() -> dict[str, float]:
    """CPU seconds (user+system) so far of the local cluster's processes, by name: who of
    them is the bound when N runs start together on a 2-core machine."""
    out: dict[str, float] = dict.fromkeys(CLUSTER_PROCESSES, 0.0)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, seconds = _cpu_seconds(stat.read_text())
        except OSError:  # the process ended meanwhile
            continue
        if name in out:
            out[name] += seconds
    return out


def cpu_spent(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    """CPU seconds between two :func:`cluster_cpu` readings, most first (processes that
    spent nothing, e.g. not running, left out)."""
    spent = {k: v - before.get(k, 0.0) for k, v in after.items()}
    return dict(sorted(((k, v) for k, v in spent.items() if v > 0), key=lambda kv: -kv[1]))


def _counts(path: Path) -> Counter[str]:
    try:
        return Counter(json.loads(path.read_text())["counts"])
    except (OSError, ValueError, KeyError):
        return Counter()


def _window(samples: list[Sample], start: float, end: float) -> tuple[float, Counter[str]]:
    """Seconds and request counts between the samples nearest ``start`` and ``end``."""
    inside = [s for s in samples if start <= s.at <= end]
    if len(inside) < 2:
        return 0.0, Counter()
    first, last = inside[0], inside[-1]
    diff = Counter(last.counts)
    diff.subtract(first.counts)
    return last.at - first.at, +diff


def _metric(port: int, name: str) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
    except OSError:
        return float("nan")
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


def _audit_files(audit: Path, offset: int, since: float) -> list[tuple[Path, int]]:
    """(file, offset) to read: the API server rotates its audit log (--audit-log-maxsize),
    so a long measurement spans the rotated files written since it began, then audit.log
    (from ``offset`` only when it was not rotated meanwhile). The namespaces are unique to
    the measurement, so whole rotated files count nothing twice."""
    rotated = sorted(
        (
            p
            for p in audit.parent.glob(f"{audit.stem}-*{audit.suffix}")
            if p.stat().st_mtime >= since
        ),
        key=lambda p: p.stat().st_mtime,
    )
    current = 0 if rotated or audit.stat().st_size < offset else offset
    return [(p, 0) for p in rotated] + [(audit, current)]


def _audit_writes(
    audit: Path, offset: int, namespaces: set[str], since: float = 0.0
) -> Counter[str]:
    counts: Counter[str] = Counter()
    for path, start in _audit_files(audit, offset, since):
        _count_audit(path, start, namespaces, counts)
    return counts


def _count_audit(path: Path, offset: int, namespaces: set[str], counts: Counter[str]) -> None:
    with path.open("rb") as f:
        f.seek(offset)
        for raw in f:
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            agent = event.get("userAgent", "")
            if not agent.startswith(("perfrun/", "kopf/")):
                continue
            ref = event.get("objectRef", {})
            if ref.get("namespace") in namespaces or (
                ref.get("resource") == "namespaces" and ref.get("name") in namespaces
            ):
                sub = f"/{ref['subresource']}" if ref.get("subresource") else ""
                counts[f"{agent.split('/')[0]} {event['verb']} {ref.get('resource')}{sub}"] += 1


class _Operator:
    def __init__(
        self,
        cluster: KubeCluster,
        ns: str,
        work: Path,
        interval: float | None,
        extra_env: dict[str, str],
    ):
        self.requests = work / "requests.json"
        self.log = work / "operator.log"
        self.metrics_port = free_port()
        env = dict(
            cluster.env,
            PERFRUN_IMAGE="perfrun:test",
            PERFRUN_POLICY_EGRESS_CIDRS="10.0.0.0/8",
            PERFRUN_BENCH_REQUESTS=str(self.requests),
            PYTHONPATH=str(REPO_ROOT / "operator"),
        )
        if interval is not None:
            env["PERFRUN_RECONCILE_INTERVAL"] = f"{interval:g}"
        env.update(extra_env)
        args = ["operator", "--standalone", "-n", ns, "--metrics-port", str(self.metrics_port)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(COUNTED_OPERATOR), *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
            )

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


class _Bench:
    """One measurement's state, in the order it happens."""

    def __init__(self, cluster: KubeCluster, result: ScaleResult, ns: str, op: _Operator):
        configuration = client.Configuration()
        config.load_kube_config(str(cluster.kubeconfig), client_configuration=configuration)
        configuration.connection_pool_maxsize = CREATE_THREADS
        api = client.ApiClient(configuration)
        self.custom, self.core = client.CustomObjectsApi(api), client.CoreV1Api(api)
        self.cluster, self.result, self.ns, self.op = cluster, result, ns, op
        self.samples: list[Sample] = []
        self.run_namespaces: set[str] = set()

    def sample(self) -> None:
        if self.op.proc.poll() is None:
            self.result.rss_peak_mib, self.result.cpu_s = _proc_stats(self.op.proc.pid)
        self.samples.append(Sample(time.time(), _counts(self.op.requests)))

    def perfruns(self) -> dict[str, dict[str, Any]]:
        items = self.custom.list_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL)
        return {o["metadata"]["name"]: o for o in items["items"]}

    def namespaces(self) -> set[str]:
        selector = f"{LABEL_PERFRUN_NAMESPACE}={self.ns}"
        return {i.metadata.name for i in self.core.list_namespace(label_selector=selector).items}

    def wait_watching(self) -> None:
        deadline = time.monotonic() + 60
        while not any(k.startswith("watch perfruns") for k in _counts(self.op.requests)):
            if time.monotonic() > deadline or self.op.proc.poll() is not None:
                tail = self.op.log.read_text()[-3000:]
                raise RuntimeError(f"operator did not start watching: {tail}")
            time.sleep(0.5)
        time.sleep(1.0)

    def apply_and_wait(self, timeout: float) -> float:
        """Apply the N runs at once; return when all are terminal (or at the timeout)."""
        r = self.result
        names = [f"run-{i:03d}" for i in range(r.n)]
        docs = [run_doc(name, r.load_seconds) for name in names]
        self.started = time.time()
        if r.arrival == "kubectl":
            self.cluster.kubectl(
                "apply", "--server-side", "--field-manager=perfrun-tests", "-f", "-",
                "-n", self.ns, input="\n---\n".join(yaml.safe_dump(d) for d in docs),
                timeout=600,
            )  # fmt: skip
        else:

            def create(doc: dict[str, Any]) -> None:
                self.custom.create_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, doc)

            with ThreadPoolExecutor(CREATE_THREADS) as pool:
                list(pool.map(create, docs))
        objs: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sample()
            objs = self.perfruns()
            phases = [(o.get("status") or {}).get("phase") for o in objs.values()]
            if len(objs) == r.n and all(p in TERMINAL for p in phases):
                break
            time.sleep(1.0)
        self.record(objs)
        # busy: from the last run's EnvironmentReady to the first run's Finished, by the
        # objects' own times (polling saw both at once when applying 200 runs outlasted it)
        ready = [_condition_time(o, "EnvironmentReady") for o in objs.values()]
        finished = [t for t in (_condition_time(o, "Finished") for o in objs.values()) if t]
        if len(objs) == r.n and None not in ready and finished:
            all_ready_at, first_finished_at = max(t for t in ready if t), min(finished)
            if first_finished_at > all_ready_at:
                r.busy = _window(self.samples, all_ready_at, first_finished_at)
        return time.time()

    def record(self, objs: dict[str, dict[str, Any]]) -> None:
        r = self.result
        for name, obj in objs.items():
            status = obj.get("status") or {}
            r.phases[name] = status.get("phase") or "-"
            r.verdicts[name] = status.get("verdict") or "-"
            reason, message = terminal_reason(status)
            r.reasons[name] = reason
            r.reason_messages.setdefault(reason, message)
            created = _epoch(obj["metadata"]["creationTimestamp"])
            r.created_s.append(created)
            env_ready = _condition_time(obj, "EnvironmentReady")
            finished = _condition_time(obj, "Finished")
            if env_ready is not None:
                r.env_ready_s.append(env_ready - created)
            if finished is not None:
                r.finished_s.append(finished - created)

    def idle(self, terminal_at: float, seconds: float) -> None:
        end = time.time() + seconds
        while time.time() < end:
            self.sample()
            time.sleep(1.0)
        self.result.idle = _window(self.samples, terminal_at, time.time())

    def stages(self, objs: dict[str, dict[str, Any]]) -> set[str]:
        """Each run's way to EnvironmentReady, from the objects' own timestamps (seconds);
        the run namespaces (read for it, so not read again)."""
        runs: dict[str, str] = {}  # run namespace -> PerfRun name
        stamps: dict[str, dict[str, float]] = {}
        selector = f"{LABEL_PERFRUN_NAMESPACE}={self.ns}"
        for ns in self.core.list_namespace(label_selector=selector).items:
            run = (ns.metadata.labels or {}).get(LABEL_PERFRUN, "")
            runs[ns.metadata.name] = run
            stamps.setdefault(run, {})["namespace"] = ns.metadata.creation_timestamp.timestamp()
        for pod in self.core.list_pod_for_all_namespaces().items:
            run = runs.get(pod.metadata.namespace)
            owners = [o.kind for o in pod.metadata.owner_references or []]
            if run is None or ("ReplicaSet" not in owners and "StatefulSet" not in owners):
                continue
            at = stamps.setdefault(run, {})
            at["pod created"] = max(
                at.get("pod created", 0.0), pod.metadata.creation_timestamp.timestamp()
            )
            for c in pod.status.conditions or []:
                key = {"PodScheduled": "pod bound", "Ready": "pod Ready"}.get(c.type)
                if key and c.status == "True" and c.last_transition_time:
                    at[key] = max(at.get(key, 0.0), c.last_transition_time.timestamp())
        for name, obj in objs.items():
            created = _epoch(obj["metadata"]["creationTimestamp"])
            at = stamps.get(name, {})
            env_ready = _condition_time(obj, "EnvironmentReady")
            if env_ready is not None:
                at["EnvironmentReady"] = env_ready
            for key in ("namespace", "pod created", "pod bound", "pod Ready", "EnvironmentReady"):
                if key in at:
                    self.result.stages.setdefault(key, []).append(at[key] - created)
        return set(runs)

    def delete_and_wait(self, timeout: float) -> None:
        """Delete every PerfRun at once; time each run namespace until it is gone."""
        r = self.result
        self.run_namespaces = self.stages(self.perfruns())
        deleted_at = time.time()
        self.cluster.kubectl("delete", "perfrun", "--all", "-n", self.ns, "--wait=false")
        waiting = set(self.run_namespaces)
        deadline = time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            present = self.namespaces()
            now = time.time()
            r.gone_s += [now - deleted_at] * len(waiting - present)
            waiting &= present
            if now - self.samples[-1].at >= 1.0:
                self.sample()
            time.sleep(0.5)
        r.left_behind = sorted(waiting)
        while time.monotonic() < deadline and self.perfruns():  # finalizers released
            time.sleep(0.5)
        r.perfruns_left = sorted(self.perfruns())
        self.sample()
        r.wall_s = time.time() - self.started
        r.reconcile_errors = _metric(self.op.metrics_port, "perfrun_reconcile_errors_total")


RUNS_PER_KWOK_NODE = 40  # a minimal run's pods request ~1.2 CPU; a kwok node has 64


def ensure_kwok_capacity(cluster: KubeCluster, n: int) -> list[str]:
    """Extra fake nodes (kwok manages every node with its annotation) so N runs' pods fit:
    the cluster's one kwok node holds ~50 minimal runs, and more would wait unschedulable
    until their readyTimeout. Their names, to remove afterwards."""
    extra = max(0, -(-n // RUNS_PER_KWOK_NODE) - 1)
    names = [f"kwok-scale-{i}" for i in range(extra)]
    docs = [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "type": "kwok",
                },
            },
            "status": {
                "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "250"},
                "capacity": {"cpu": "64", "memory": "256Gi", "pods": "250"},
            },
        }
        for name in names
    ]
    if docs:
        cluster.apply("\n---\n".join(yaml.safe_dump(d) for d in docs))
        for name in names:
            cluster.kubectl("wait", "--for=condition=Ready", f"node/{name}", "--timeout=60s")
    return names


def measure(
    cluster: KubeCluster,
    n: int,
    *,
    work: Path,
    load_seconds: int = 20,
    idle_seconds: float = 20.0,
    interval: float | None = None,
    timeout: float = 900.0,
    progress: Any = None,
    env: dict[str, str] | None = None,
    arrival: str = "burst",
) -> ScaleResult:
    """Apply N minimal runs to a fresh namespace watched by a fresh operator (``arrival``:
    one of ARRIVALS); measure."""
    say = progress or (lambda _msg: None)
    ns = f"bench-scale-{n}-{secrets.token_hex(3)}"
    cluster.kubectl("create", "namespace", ns)
    work.mkdir(parents=True, exist_ok=True)
    result = ScaleResult(n=n, load_seconds=load_seconds, interval=interval or 2.0, arrival=arrival)
    audit_offset = cluster.audit_log.stat().st_size
    began = time.time()
    extra_nodes = ensure_kwok_capacity(cluster, n)
    op = _Operator(cluster, ns, work, interval, env or {})
    result.log = op.log
    result.env = [f"{k}={v}" for k, v in (env or {}).items()]
    bench = _Bench(cluster, result, ns, op)
    try:
        bench.wait_watching()
        say(f"N={n}: applying {n} runs to {ns}")
        cpu0, op_cpu0 = cluster_cpu(), result.cpu_s
        terminal_at = bench.apply_and_wait(timeout)
        cpu1 = cluster_cpu()
        result.cluster_cpu_busy = cpu_spent(cpu1, cpu0)
        result.operator_cpu_busy = result.cpu_s - op_cpu0
        say(f"N={n}: terminal after {terminal_at - bench.started:.0f}s")
        bench.idle(terminal_at, idle_seconds)
        bench.delete_and_wait(timeout)
        say(f"N={n}: all deleted after {result.wall_s:.0f}s")
        result.cluster_cpu_rest = cpu_spent(cluster_cpu(), cpu1)
    finally:
        op.stop()
        cluster.kubectl("delete", "perfrun", "--all", "-n", ns, "--wait=false", check=False)
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)
        for node in extra_nodes:
            cluster.kubectl("delete", "node", node, "--wait=false", check=False)
    result.requests = _counts(op.requests)
    lines = op.log.read_text(errors="replace").splitlines()
    result.error_lines = sum("[ERROR" in line for line in lines)
    result.tick_failures = sum("Timer 'tick' failed" in line for line in lines)
    namespaces = {ns} | bench.run_namespaces
    result.audit_writes = _audit_writes(cluster.audit_log, audit_offset, namespaces, began)
    return result
