"""The local cluster's real node: containers really run, networking and DNS are real, a
PerfRun is judged from real numbers, real failures are named, NetworkPolicy really holds, and
a run leaves nothing behind on the host."""

from __future__ import annotations

import ipaddress
import json
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from tests.support.cluster import poll_until
from tests.support.node import RealNode
from tests.support.operator import OperatorProcess
from tests.support.perfruns import minimal, wait_finished

pytestmark = [pytest.mark.cluster, pytest.mark.node]

PY_SERVER = ["python3", "-m", "http.server", "8000"]
SLEEP = ["sleep", "3600"]


def _exec(node: RealNode, ns: str, pod: str, *cmd: str) -> subprocess.CompletedProcess[str]:
    return node.cluster.kubectl("exec", "-n", ns, pod, "--", *cmd, check=False, timeout=60)


def _py(node: RealNode, ns: str, pod: str, code: str) -> str:
    proc = _exec(node, ns, pod, "python3", "-c", code)
    assert proc.returncode == 0, f"in {pod}: {proc.stdout}\n{proc.stderr}"
    return proc.stdout.strip()


# bash's /dev/tcp, in any image with bash: "open" or "closed" within 3 s
def _tcp(node: RealNode, ns: str, pod: str, host: str, port: int) -> str:
    probe = f"timeout 3 bash -c 'exec 3<>/dev/tcp/{host}/{port}' && echo open || echo closed"
    return _exec(node, ns, pod, "bash", "-c", probe).stdout.strip()


def test_node_is_ready_and_pods_get_ips_dns_and_clusterip(
    real_node: RealNode, kube_namespace: str
) -> None:
    node, ns = real_node, kube_namespace
    obj = node.cluster.get_json("node", node.name)
    assert obj["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://2.")
    assert {"key": "perfrun.dev/node", "value": "real", "effect": "NoSchedule"} in [
        {k: t.get(k) for k in ("key", "value", "effect")} for t in obj["spec"]["taints"]
    ]
    perfrun_image = node.images["perfrun"]
    server = node.run_pod(ns, node.pod("server", perfrun_image, PY_SERVER))
    client = node.run_pod(ns, node.pod("client", perfrun_image, SLEEP))
    cidr = ipaddress.ip_network(node.facts["NODE_POD_CIDR"])
    for pod in (server, client):
        assert pod["spec"]["nodeName"] == node.name
        assert ipaddress.ip_address(pod["status"]["podIP"]) in cidr
    assert server["status"]["podIP"] != client["status"]["podIP"]
    node.cluster.apply(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web"},
                "spec": {
                    "selector": {"app": "server"},
                    "ports": [{"port": 80, "targetPort": 8000}],
                },
            }
        ),
        "-n",
        ns,
    )
    cluster_ip = node.cluster.get_json("service", "web", "-n", ns)["spec"]["clusterIP"]
    # CoreDNS answers the Service name (short, namespaced and full) with its ClusterIP
    resolved = _py(
        node,
        ns,
        "client",
        "import socket; print(' '.join(socket.gethostbyname(n) for n in "
        f"('web', 'web.{ns}', 'web.{ns}.svc.cluster.local')))",
    )
    assert resolved.split() == [cluster_ip] * 3
    # kube-proxy carries the ClusterIP to the server pod, which sees the client's own IP
    get = "import urllib.request as u; print(u.urlopen('http://web/', timeout=5).status)"
    poll_until(
        lambda: _exec(node, ns, "client", "python3", "-c", get).stdout.strip() == "200",
        timeout=30,
        what="GET http://web/ from the client pod",
    )
    logs = node.cluster.kubectl("logs", "-n", ns, "server").stdout
    assert f"{client['status']['podIP']} - - " in logs


def _local_spec(node: RealNode, name: str) -> dict[str, Any]:
    doc = minimal(name)
    doc["spec"]["environment"]["workloads"][0]["image"] = node.images["nginx"]
    return doc


def _run_pods(node: RealNode, run_ns: str) -> list[dict[str, Any]]:
    return list(node.cluster.get_json("pods", "-n", run_ns)["items"])


def _conditions_text(obj: dict[str, Any]) -> str:
    return json.dumps(obj.get("status", {}).get("conditions", []))


def _prometheus_query(node: RealNode, run_ns: str, query: str) -> list[dict[str, Any]]:
    path = (
        f"/api/v1/namespaces/{run_ns}/services/prometheus:9090/proxy/api/v1/query"
        f"?query={quote(query)}"
    )
    out = json.loads(node.cluster.kubectl("get", "--raw", path).stdout)
    assert out["status"] == "success", out
    return list(out["data"]["result"])


def test_minimal_example_passes_from_real_numbers(
    real_node: RealNode, node_operator: OperatorProcess, kube_namespace: str
) -> None:
    node, ns = real_node, kube_namespace
    node.cluster.apply(json.dumps(_local_spec(node, "hello-node")), "-n", ns)
    run = wait_finished(node.cluster, ns, "hello-node", timeout=300)
    status = run["status"]
    assert status.get("verdict") == "Passed", (status, node_operator.logs())
    results = status["results"]
    assert results["requests"] > 0
    run_ns = status["namespace"]
    pods = _run_pods(node, run_ns)
    assert pods and all(p["spec"]["nodeName"] == node.name for p in pods)
    # nginx's own access log counts what the load sent (kubelet's probes aside)
    served = 0
    for pod in pods:
        if pod["metadata"]["name"].startswith("api-"):
            log = node.cluster.kubectl("logs", "-n", run_ns, pod["metadata"]["name"]).stdout
            served += sum(
                1 for line in log.splitlines() if '"GET / ' in line and "kube-probe" not in line
            )
    assert served == results["requests"]
    # the run's own Prometheus scraped real targets
    up = _prometheus_query(node, run_ns, "max_over_time(up[15m])")
    assert any(r["value"][1] == "1" for r in up), up


def test_too_small_memory_limit_is_oomkilled(
    real_node: RealNode, node_operator: OperatorProcess, kube_namespace: str
) -> None:
    node, ns = real_node, kube_namespace
    doc = _local_spec(node, "oom-node")
    doc["spec"]["environment"]["workloads"][0].update(
        image=node.images["perfrun"],
        command=["python3", "-c", "b = bytearray(512 << 20); import time; time.sleep(600)"],
        resources={"requests": {"memory": "48Mi"}, "limits": {"memory": "48Mi"}},
    )
    node.cluster.apply(json.dumps(doc), "-n", ns)
    run = wait_finished(node.cluster, ns, "oom-node", timeout=300)
    assert run["status"].get("verdict") != "Passed"
    assert "OOMKilled" in _conditions_text(run), run["status"]


def test_workload_exiting_1_is_crashloopbackoff(
    real_node: RealNode, node_operator: OperatorProcess, kube_namespace: str
) -> None:
    node, ns = real_node, kube_namespace
    doc = _local_spec(node, "crash-node")
    doc["spec"]["environment"]["workloads"][0]["command"] = ["sh", "-c", "exit 1"]
    node.cluster.apply(json.dumps(doc), "-n", ns)
    run = wait_finished(node.cluster, ns, "crash-node", timeout=300)
    assert run["status"].get("verdict") != "Passed"
    assert "CrashLoopBackOff" in _conditions_text(run), run["status"]


def test_load_against_a_refusing_target_fails_with_the_summary_reason(
    real_node: RealNode, node_operator: OperatorProcess, kube_namespace: str
) -> None:
    node, ns = real_node, kube_namespace
    doc = _local_spec(node, "refused-node")
    # A workload that answers the kubelet's first readiness probe, then closes its listening
    # socket: the run starts, and every load connection to it is refused by the pod's kernel.
    one_shot = (
        "import http.server as h, time; "
        "s = h.HTTPServer(('', 8000), h.SimpleHTTPRequestHandler); "
        "s.handle_request(); s.server_close(); time.sleep(3600)"
    )
    doc["spec"]["environment"]["workloads"][0].update(
        image=node.images["perfrun"], command=["python3", "-c", one_shot], port=8000
    )
    doc["spec"]["load"]["target"] = "http://api:8000"
    node.cluster.apply(json.dumps(doc), "-n", ns)
    run = wait_finished(node.cluster, ns, "refused-node", timeout=300)
    status = run["status"]
    assert status.get("verdict") == "Failed", status
    assert "errors: Failed" in _conditions_text(run), status
    # ... and says why the requests failed, from the summary's own counts
    assert "failed load attempts: connect" in _conditions_text(run), status
    assert status["results"]["errorRate"] == 1, status["results"]
    # the load summary the verdict came from: every request failed to connect (refused at
    # once: the run took no longer than its ramp, no request waited for a timeout)
    data = node.cluster.get_json("configmap", "load-summary", "-n", status["namespace"])["data"]
    summaries = [json.loads(v) for v in data.values()]
    total = sum(sm["requests"] for sm in summaries)
    connect = sum(sm["errors"].get("connect", 0) for sm in summaries)
    assert total > 0 and connect == total, summaries
    assert status["results"]["p99Ms"] < 1000, status["results"]


def test_network_policy_really_holds(
    real_node: RealNode, node_operator: OperatorProcess, kube_namespace: str
) -> None:
    node, ns = real_node, kube_namespace
    # a pod in another namespace (this test's own, no policy), reachable from its neighbour
    other = node.run_pod(ns, node.pod("outsider", node.images["perfrun"], PY_SERVER))
    other_ip = other["status"]["podIP"]
    node.run_pod(ns, node.pod("neighbour", node.images["perfrun"], SLEEP))
    api_ip, api_port = (
        node.facts["NODE_HOST_IP"],
        int(
            node.cluster.get_json("endpoints", "kubernetes", "-n", "default")["subsets"][0][
                "ports"
            ][0]["port"]
        ),
    )
    assert _tcp(node, ns, "neighbour", other_ip, 8000) == "open"
    assert _tcp(node, ns, "neighbour", api_ip, api_port) == "open"

    node.cluster.apply(json.dumps(_local_spec(node, "fenced-node")), "-n", ns)
    run = wait_finished(node.cluster, ns, "fenced-node", timeout=300)
    run_ns = run["status"]["namespace"]
    # the load pods' summary write went through the policy to the API server
    summary = node.cluster.get_json("configmap", "load-summary", "-n", run_ns)
    assert summary.get("data"), summary
    assert run["status"]["results"]["requests"] > 0
    api = next(
        p["metadata"]["name"]
        for p in _run_pods(node, run_ns)
        if p["metadata"]["name"].startswith("api-") and p["status"].get("phase") == "Running"
    )
    # DNS and the run's own Services work
    resolved = _exec(node, run_ns, api, "getent", "hosts", f"prometheus.{run_ns}.svc.cluster.local")
    assert resolved.returncode == 0 and resolved.stdout.split(), resolved
    assert _tcp(node, run_ns, api, "prometheus", 9090) == "open"
    # another namespace's pod and an address outside egressAllow are unreachable
    assert _tcp(node, run_ns, api, other_ip, 8000) == "closed"
    assert _tcp(node, run_ns, api, api_ip, api_port) == "closed"


def _pod_netns(node: RealNode, sandbox_id: str) -> str:
    spec = json.loads(node.ctr("containers", "info", sandbox_id))["Spec"]
    for n in spec["linux"]["namespaces"]:
        if n["type"] == "network":
            return str(n["path"])
    raise AssertionError(f"sandbox {sandbox_id} has no network namespace")


def _host_veth(node: RealNode, netns_path: str) -> str:
    """The node-side name of the veth whose other end is eth0 in ``netns_path``."""
    out = subprocess.run(
        ["nsenter", f"--net={netns_path}", "ip", "-o", "link", "show", "eth0"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    peer_index = out.split(":")[1].split("@if")[1]
    links = node.nsx("ip", "-o", "link", "show").stdout
    for line in links.splitlines():
        index, name = line.split(":")[0], line.split(":")[1].strip().split("@")[0]
        if index == peer_index:
            return name
    raise AssertionError(f"no node-side veth with index {peer_index}")


def test_teardown_leaves_nothing_on_the_host(
    real_node: RealNode, node_operator: OperatorProcess, kube_namespace: str
) -> None:
    node, ns = real_node, kube_namespace
    node.cluster.apply(json.dumps(_local_spec(node, "gone-node")), "-n", ns)
    run = wait_finished(node.cluster, ns, "gone-node", timeout=300)
    run_ns = run["status"]["namespace"]
    label = f'labels."io.kubernetes.pod.namespace"=={run_ns}'
    containers = node.ctr("containers", "ls", "-q", label).split()
    assert containers, "the run's containers are not in containerd"
    pod_uids = [p["metadata"]["uid"] for p in _run_pods(node, run_ns)]
    sandboxes = [
        c
        for c in containers
        if json.loads(node.ctr("containers", "info", c))["Labels"].get("io.cri-containerd.kind")
        == "sandbox"
    ]
    running = [s for s in sandboxes if Path(_pod_netns(node, s)).exists()]
    netns_paths = [_pod_netns(node, s) for s in running]
    veths = [_host_veth(node, p) for p in netns_paths]
    assert netns_paths and veths

    node.cluster.kubectl("delete", "perfrun", "gone-node", "-n", ns, "--timeout=180s")
    poll_until(
        lambda: not node.cluster.exists("namespace", run_ns),
        timeout=180,
        what=f"namespace {run_ns} gone",
    )

    def what_is_left() -> list[str]:
        left = []
        if node.ctr("containers", "ls", "-q", label).split():
            left.append("containers/sandboxes in containerd")
        left += [f"netns {p}" for p in netns_paths if Path(p).exists()]
        links = node.nsx("ip", "-o", "link", "show").stdout
        left += [f"veth {v}" for v in veths if f": {v}@" in links]
        mounts = Path("/proc/self/mounts").read_text()
        left += [f"mount of pod {u}" for u in pod_uids if u in mounts]
        for uid in pod_uids:
            for hierarchy in ("memory", "cpu", "pids"):
                root = Path("/sys/fs/cgroup") / hierarchy / node.facts["NODE_CGROUP"]
                if any(root.rglob(f"*pod{uid}*")):
                    left.append(f"{hierarchy} cgroup of pod {uid}")
        return left

    left: list[str] = []

    def clean() -> bool:
        left[:] = what_is_left()
        return not left

    try:
        poll_until(clean, timeout=120, what="the run's pods to leave nothing on the host")
    except AssertionError as exc:
        raise AssertionError(f"left on the host: {left}") from exc
