"""The shop (examples/shop) on the local cluster's real node, judged by its own PerfRuns: the
release as it is passes twice in a row and promotes PerfBaseline shop-main; each planted
regression fails the release run through the gate meant to catch it, with a message naming
that gate and its numbers. The dataset in the running database is the planned one, and the
report ConfigMap holds the numbers the status shows.

One run at a time (the node has 2 CPUs): each run's namespace is deleted before the next
starts, and one baseline serves every regression. ``[shop-node]`` lines are the figures the
issue notes quote (verdicts, margins, durations)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.cluster import REPO_ROOT, _namespace_name
from tests.support.node import RealNode
from tests.support.operator import OperatorProcess
from tests.support.perfruns import condition, perfrun, wait_finished
from tests.support.waiting import poll_until

from perfrun.api.dataset import Dataset
from perfrun.dataset.plan import build_plan
from perfrun.kube.reports import report_name

pytestmark = [pytest.mark.cluster, pytest.mark.node]

SHOP = REPO_ROOT / "examples" / "shop"
BASELINE = "shop-main"
RUN_TIMEOUT_S = 480


@dataclass
class ShopRun:
    name: str
    status: dict[str, Any]
    report: dict[str, Any]  # report.json of the report ConfigMap
    seconds: float  # created -> Finished
    rows: dict[str, int] = field(default_factory=dict)  # the running database's row counts


@dataclass
class Shop:
    node: RealNode
    ns: str
    operator: OperatorProcess
    baseline: ShopRun

    @staticmethod
    def doc_for(node: RealNode, file: str, name: str, regressions: str) -> dict[str, Any]:
        """An example of the shop renamed, with the local image and SHOP_REGRESSIONS."""
        doc: dict[str, Any] = yaml.safe_load((SHOP / file).read_text())
        doc["metadata"]["name"] = name
        env = doc["spec"]["environment"]
        assert "shop" in node.images, f"no shop image in {node.facts['IMAGES_TSV']}: {node.images}"
        for part in [*env["workloads"], env["migrations"]]:
            part["image"] = node.images["shop"]
            part["env"] = [e for e in part.get("env", []) if e["name"] != "SHOP_REGRESSIONS"]
            part["env"].append({"name": "SHOP_REGRESSIONS", "value": regressions})
        return doc

    def run(self, file: str, name: str, regressions: str = "") -> ShopRun:
        doc = self.doc_for(self.node, file, name, regressions)
        return _run(self.node, self.ns, self.operator, doc)


def _psql_count(node: RealNode, run_ns: str, table: str) -> int:
    pod = node.cluster.get_json("pods", "-n", run_ns, "-l", "perfrun.dev/component=db")["items"]
    assert pod, f"no db pod in {run_ns}"
    script = (
        'PGPASSWORD="$POSTGRES_PASSWORD" psql -h 127.0.0.1 -U "$POSTGRES_USER" -d app -tAc '
        f"'SELECT count(*) FROM {table}'"
    )
    out = node.cluster.kubectl(
        "exec", "-n", run_ns, pod[0]["metadata"]["name"], "-c", "postgres", "--",
        "sh", "-c", script,
    ).stdout  # fmt: skip
    return int(out.strip())


def _seconds(start: str, end: str) -> float:
    def parse(t: str) -> datetime:
        return datetime.fromisoformat(t.replace("Z", "+00:00"))

    return (parse(end) - parse(start)).total_seconds()


def _run(node: RealNode, ns: str, op: OperatorProcess, doc: dict[str, Any]) -> ShopRun:
    """Apply one shop PerfRun, wait for its verdict, read what it left (report ConfigMap, the
    database while it still runs), delete it and wait until its namespace is gone."""
    name = doc["metadata"]["name"]
    node.cluster.apply(json.dumps(doc), "-n", ns)
    try:
        obj = wait_finished(node.cluster, ns, name, timeout=RUN_TIMEOUT_S)
    except Exception as err:
        raise AssertionError(
            f"{name} did not finish: {perfrun(node.cluster, ns, name).get('status')}\n"
            f"operator log:\n{op.logs()[-4000:]}"
        ) from err
    status = obj["status"]
    cm = node.cluster.get_json("configmap", report_name(name), "-n", ns)
    report = json.loads(cm["data"]["report.json"])
    rows: dict[str, int] = {}
    if status.get("namespace") and node.cluster.exists("namespace", status["namespace"]):
        for table in ("accounts", "projects", "tasks"):
            rows[table] = _psql_count(node, status["namespace"], table)
    seconds = _seconds(obj["metadata"]["creationTimestamp"], status["finishedAt"])
    results = status.get("results") or {}
    gates = ", ".join(
        f"{g['name']} {g['outcome']} {g.get('value')}" for g in results.get("gates", [])
    )
    regressions = ", ".join(
        f"{r['metric']} {r['outcome']} {r.get('value')} vs {r.get('baseline')}"
        for r in results.get("regressions", [])
    )
    print(
        f"[shop-node] {name}: {status.get('verdict')} "
        f"({condition(obj, 'Finished').get('reason')}) in {seconds:.0f}s; "
        f"p99 {results.get('p99Ms')} ms, {results.get('requests')} requests, "
        f"errors {results.get('errorRate')}; gates: {gates}; baseline: {regressions or '-'}"
    )
    started = time.monotonic()
    node.cluster.kubectl("delete", "perfrun", name, "-n", ns, "--timeout=300s", timeout=310)
    print(f"[shop-node] {name}: deleted with its namespace in {time.monotonic() - started:.0f}s")
    return ShopRun(name, status, report, seconds, rows)


@pytest.fixture(scope="module")
def shop(
    real_node: RealNode, perfrun_crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shop]:
    """A namespace and an operator for the module, and the baseline run (promoted as
    shop-main) that every other test compares with."""
    cluster = real_node.cluster
    ns = _namespace_name("tests/node/test_shop.py")
    cluster.kubectl("create", "namespace", ns)
    poll_until(
        lambda: cluster.exists("-n", ns, "serviceaccount", "default"),
        timeout=60,
        what=f"ServiceAccount default in {ns}",
    )
    log: Path = tmp_path_factory.mktemp("shop") / "operator.log"
    op = OperatorProcess(cluster, ns, log, env=real_node.operator_env)
    op.start()
    try:
        doc = Shop.doc_for(real_node, "perfrun-baseline.yaml", "shop-baseline", "")
        yield Shop(real_node, ns, op, _run(real_node, ns, op, doc))
    finally:
        cluster.kubectl("delete", "perfrun", "--all", "-n", ns, "--timeout=300s", check=False)
        op.stop()
        cluster.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found")


def _gate(run: ShopRun, name: str) -> dict[str, Any]:
    for gate in run.status["results"]["gates"]:
        if gate["name"] == name:
            return dict(gate)
    raise AssertionError(f"{run.name} has no gate {name}: {run.status['results']['gates']}")


def _regression(run: ShopRun, metric: str) -> dict[str, Any]:
    for reg in run.status["results"].get("regressions", []):
        if reg["metric"] == metric:
            return dict(reg)
    raise AssertionError(f"{run.name} compared no {metric}: {run.status['results']}")


def _report_holds_the_numbers(run: ShopRun) -> None:
    """The report ConfigMap's numbers are the status's (the status is cut from the report)."""
    status, report = run.status["results"], run.report["results"]
    assert report["requests"] == status["requests"] > 0
    for key in ("p50Ms", "p95Ms", "p99Ms", "errorRate", "throughputRps"):
        assert report[key] == pytest.approx(status[key]), key
    assert [(g["name"], g["outcome"], g.get("value")) for g in report["gates"]] == [
        (g["name"], g["outcome"], g.get("value")) for g in status["gates"]
    ]
    assert run.report["verdict"] == run.status["verdict"]


@pytest.mark.timeout(900)
def test_the_shop_passes_and_becomes_the_baseline(shop: Shop) -> None:
    run = shop.baseline
    assert run.status["verdict"] == "Passed", run.status
    assert {g["name"]: g["outcome"] for g in run.status["results"]["gates"]} == {
        "p99": "Passed",
        "errors": "Passed",
        "queue-drains": "Passed",
        "lock-waits": "Passed",
    }
    assert run.status["results"]["errorRate"] == 0
    baseline = shop.node.cluster.get_json("perfbaseline", BASELINE, "-n", shop.ns)
    assert baseline["spec"]["values"]["p99Ms"] == pytest.approx(run.status["results"]["p99Ms"])
    _report_holds_the_numbers(run)
    # the dataset the running database held is the one perfrun planned (whale-shaped)
    doc = yaml.safe_load((SHOP / "perfrun-baseline.yaml").read_text())
    dataset = Dataset.model_validate(doc["spec"]["dataset"])
    assert dataset.synthetic is not None
    planned = {t.name: t.rows for t in build_plan(dataset.synthetic).tables}
    assert run.rows == planned


@pytest.mark.timeout(900)
def test_the_same_release_passes_again_against_its_baseline(shop: Shop) -> None:
    run = shop.run("perfrun-release.yaml", "shop-release-none")
    assert run.status["verdict"] == "Passed", run.status
    assert all(g["outcome"] == "Passed" for g in run.status["results"]["gates"]), run.status
    p99 = _regression(run, "latencyP99")
    assert p99["outcome"] == "Passed"
    print(
        f"[shop-node] no regression: p99 {p99['value']:.0f} vs baseline {p99['baseline']:.0f} "
        f"ms ({p99['changePercent']:+.0f}%, tolerance {p99['tolerancePercent']:.0f}%); "
        f"lock-waits worst {_gate(run, 'lock-waits')['value']}"
    )
    _report_holds_the_numbers(run)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("regression", ["n_plus_one", "missing_index"])
def test_a_slower_dashboard_fails_on_p99_against_the_baseline(shop: Shop, regression: str) -> None:
    run = shop.run(
        "perfrun-release.yaml", f"shop-release-{regression.replace('_', '-')}", regression
    )
    assert run.status["verdict"] == "Failed", run.status
    p99 = _regression(run, "latencyP99")
    assert p99["outcome"] == "Failed", p99
    # the message names the metric and both numbers, as the status says them
    message = run.status["message"]
    assert "latencyP99" in message, message
    assert f"this run {p99['value']:g}ms vs baseline {p99['baseline']:g}ms" in message, message
    # every gate of its own passed: the baseline is what caught it
    assert condition({"status": run.status}, "Finished")["reason"] == "BaselineRegressed", message
    ratio = p99["value"] / p99["baseline"]
    print(
        f"[shop-node] {regression}: p99 {p99['value']:.0f} vs {p99['baseline']:.0f} ms "
        f"= x{ratio:.2f} (fails above x{1 + p99['tolerancePercent'] / 100:.2f})"
    )
    _report_holds_the_numbers(run)


@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    ("regression", "gate", "words"),
    [
        ("slow_worker", "queue-drains", "not drained to 0 within 30s"),
        ("hot_row_lock", "lock-waits", "consecutive windows breached"),
    ],
)
def test_a_backlog_or_a_held_lock_fails_its_gate(
    shop: Shop, regression: str, gate: str, words: str
) -> None:
    run = shop.run(
        "perfrun-release.yaml", f"shop-release-{regression.replace('_', '-')}", regression
    )
    assert run.status["verdict"] == "Failed", run.status
    result = _gate(run, gate)
    assert result["outcome"] == "Failed", result
    assert words in result["message"], result
    message = run.status["message"]
    assert gate in message and words in message, message
    print(f"[shop-node] {regression}: {gate} {result['value']} ({result['message']})")
    _report_holds_the_numbers(run)
