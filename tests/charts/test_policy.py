"""The cluster admin's admission policy (the chart's ValidatingAdmissionPolicy and its
binding, the limits from Helm values written into the policy) against the real API server:
each limit refuses a PerfRun with the field and the limit named, by `kubectl apply` and by
`--dry-run=server`; a run within the limits is admitted; a run admitted before the limits
tightened can still be annotated (kopf's bookkeeping) and deleted; a policy removed and
installed again is enforced again. The operator's own check of the same limits is in
tests/controller/test_hostile_cluster.py."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.cluster import KubeCluster, poll_until
from tests.support.waiting import PollTimeoutError

from perfrun.api.policy import AdminPolicy

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "perfrun-operator"
EXAMPLE = REPO_ROOT / "examples" / "perfrun-minimal.yaml"
Doc = dict[str, Any]
VAP = "ValidatingAdmissionPolicy"
pytestmark = pytest.mark.cluster

VALUES = {
    "egressCidrs": ["10.20.0.0/16"],
    "prometheusUrls": ["http://prometheus.monitoring.svc:9090"],
    "maxPodSecurity": "baseline",
    "imageRegistries": ["docker.io", "registry.example"],
    "maxRps": 50,
    "maxParallelism": 2,
    "maxReplicas": 3,
    "maxDuration": "2h",
    "maxStorage": "10Gi",
}


def helm_template(cluster: KubeCluster, ns: str, policy: dict[str, Any]) -> list[Doc]:
    import subprocess

    values = {
        "policy": {
            **policy,
            "admission": {
                "enabled": True,
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
            },
        }
    }
    proc = subprocess.run(
        [
            str(cluster.bin_dir / "helm"),
            "template",
            f"pol-{ns[-6:]}",
            str(CHART),
            "--namespace",
            ns,
            "--show-only",
            "templates/admission-policy.yaml",
            "--values",
            "-",
        ],
        input=yaml.safe_dump(values),
        env=cluster.env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


@pytest.fixture
def policy(kube_cluster: KubeCluster, kube_namespace: str, perfrun_crds: None) -> Iterator[str]:
    """The chart's policy objects, bound to this test's namespace only; removed afterwards."""
    docs = helm_template(kube_cluster, kube_namespace, VALUES)
    kube_cluster.apply(yaml.safe_dump_all(docs))
    name = next(d for d in docs if d["kind"] == VAP)["metadata"]["name"]
    over = variant(lambda s: s["load"]["budget"].update(maxRps=60))
    answers: list[str] = []  # what the API server said, for the failure message

    def enforced() -> bool:
        answers.append(dry_run(kube_cluster, kube_namespace, over).stderr.strip())
        return "policy.maxRps 50" in answers[-1]

    try:  # enforced (the API server refreshes its policies about once a second)
        poll_until(enforced, timeout=60, what="the admission policy to be enforced")
    except PollTimeoutError as e:
        raise PollTimeoutError(f"{e}; the API server said: {sorted(set(answers))}") from None
    yield name
    kube_cluster.kubectl("delete", "validatingadmissionpolicybinding", name, check=False)
    kube_cluster.kubectl("delete", "validatingadmissionpolicy", name, check=False)


def variant(change: Callable[[Doc], Any], name: str = "pol") -> Doc:
    doc: Doc = yaml.safe_load(EXAMPLE.read_text())
    doc["metadata"]["name"] = name
    change(doc["spec"])
    return doc


def dry_run(cluster: KubeCluster, ns: str, doc: Doc) -> Any:
    return cluster.kubectl(
        "apply", "--dry-run=server", "-n", ns, "-f", "-", input=json.dumps(doc), check=False
    )


def apply(cluster: KubeCluster, ns: str, doc: Doc) -> Any:
    return cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(doc), check=False)


def _set_workload(**kw: Any) -> Callable[[Doc], Any]:
    return lambda s: s["environment"]["workloads"][0].update(**kw)


CASES: list[tuple[str, Callable[[Doc], Any], str]] = [
    (
        "egress",
        lambda s: s["environment"].update(egressAllow=[{"cidr": "10.30.0.0/24"}]),
        "spec.environment.egressAllow: 10.30.0.0/24 outside policy.egressCidrs "
        "(allowed: 10.20.0.0/16)",
    ),
    (
        "egress-ipv6",
        lambda s: s["environment"].update(egressAllow=[{"cidr": "fd00:1::/64"}]),
        "spec.environment.egressAllow: fd00:1::/64 outside policy.egressCidrs",
    ),
    (
        "prometheus",
        lambda s: s["analysis"].update(
            prometheus={"embedded": False, "url": "http://prometheus.kube-system.svc:9090"}
        ),
        "spec.analysis.prometheus.url http://prometheus.kube-system.svc:9090 is not under "
        "policy.prometheusUrls (allowed: http://prometheus.monitoring.svc:9090)",
    ),
    (
        "pod-security",
        lambda s: s["environment"].update(podSecurity="privileged"),
        "spec.environment.podSecurity privileged is above policy.maxPodSecurity baseline",
    ),
    (
        "registry",
        _set_workload(image="ghcr.io/someone/api:1"),
        "images ghcr.io/someone/api:1 are not from policy.imageRegistries "
        "(docker.io, registry.example)",
    ),
    (
        "max-rps",
        lambda s: s["load"]["budget"].update(maxRps=60),
        "spec.load.budget.maxRps 60 is over policy.maxRps 50",
    ),
    (
        "parallelism",
        lambda s: s["load"].update(parallelism=3),
        "spec.load.parallelism 3 is over policy.maxParallelism 2",
    ),
    (
        "replicas",
        _set_workload(replicas=4),
        "spec.environment.workloads[].replicas 4 is over policy.maxReplicas 3",
    ),
    (
        "duration",
        lambda s: s.update(ttl={"maxDuration": "3h"}),
        "spec.ttl.maxDuration 3h or spec.load.budget.maxDuration 1m is over policy.maxDuration 2h",
    ),
    (
        "storage",
        lambda s: s["environment"].update(
            components=[{"name": "db", "kind": "postgres", "storage": "20Gi"}]
        ),
        "spec.environment.components[].storage 20Gi is over policy.maxStorage 10Gi",
    ),
]


def test_the_policy_values_reach_the_operator_the_same_way(kube_cluster: KubeCluster) -> None:
    """The admission policy's variables and the operator's PERFRUN_POLICY_* say the same
    limits."""
    import subprocess

    proc = subprocess.run(
        [str(kube_cluster.bin_dir / "helm"), "template", "p", str(CHART), "--values", "-"],
        input=yaml.safe_dump({"policy": VALUES}),
        env=kube_cluster.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    env = {
        e["name"]: e["value"]
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        if "value" in e
    }
    operator = AdminPolicy.from_env(env)
    assert operator == AdminPolicy(
        egress_cidrs=("10.20.0.0/16",),
        prometheus_urls=("http://prometheus.monitoring.svc:9090",),
        max_pod_security="baseline",
        image_registries=("docker.io", "registry.example"),
        max_rps=50,
        max_parallelism=2,
        max_replicas=3,
        max_duration="2h",
        max_storage="10Gi",
    )
    (vap,) = [d for d in docs if d["kind"] == VAP]
    expected = {
        "egressCidrs": ["10.20.0.0/16"],
        "prometheusUrls": ["http://prometheus.monitoring.svc:9090"],
        "registries": ["docker.io", "registry.example"],
        "maxPodSecurity": "baseline",
        "maxRps": "50",
        "maxParallelism": "2",
        "maxReplicas": "3",
        "maxDuration": "2h",
        "maxStorage": "10Gi",
    }
    variables = vap["spec"]["variables"]
    limits = {v["name"]: json.loads(v["expression"]) for v in variables if v["name"] in expected}
    assert limits == expected
    assert not [d for d in docs if d["kind"] == "ConfigMap" and "policy" in d["metadata"]["name"]]


@pytest.mark.parametrize(("case", "change", "message"), CASES, ids=[c[0] for c in CASES])
def test_each_limit_is_refused_naming_field_and_limit(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    policy: str,
    case: str,
    change: Callable[[Doc], Any],
    message: str,
) -> None:
    doc = variant(change, f"pol-{case}")
    for how in (dry_run, apply):
        proc = how(kube_cluster, kube_namespace, doc)
        assert proc.returncode != 0, (how.__name__, proc.stdout)
        assert message in proc.stderr, (how.__name__, proc.stderr)
        assert policy in proc.stderr  # the API server names the policy that refused it
    assert not kube_cluster.exists("perfrun", doc["metadata"]["name"], "-n", kube_namespace)


def test_a_run_within_the_limits_is_admitted_and_survives_a_tighter_policy(
    kube_cluster: KubeCluster, kube_namespace: str, policy: str
) -> None:
    within = variant(
        lambda s: (
            s["environment"].update(egressAllow=[{"cidr": "10.20.5.0/24", "ports": [5432]}]),
            s["analysis"].update(
                prometheus={"embedded": False, "url": "http://prometheus.monitoring.svc:9090/x"}
            ),
        ),
        "pol-ok",
    )
    assert dry_run(kube_cluster, kube_namespace, within).returncode == 0
    proc = apply(kube_cluster, kube_namespace, within)
    assert proc.returncode == 0, proc.stderr
    # the admin lowers maxRps below this run's: metadata edits (kopf's finalizer and
    # annotations) and deletion must still go through
    tighter = copy.deepcopy(VALUES)
    tighter["maxRps"] = 5
    docs = helm_template(kube_cluster, kube_namespace, tighter)  # `helm upgrade`, new values
    kube_cluster.apply(yaml.safe_dump(next(d for d in docs if d["kind"] == VAP)))
    poll_until(
        lambda: (
            "policy.maxRps 5"
            in dry_run(kube_cluster, kube_namespace, variant(lambda s: None, "pol-new")).stderr
        ),
        timeout=30,
        what="the tighter policy to be used",
    )
    kube_cluster.kubectl("annotate", "perfrun", "pol-ok", "-n", kube_namespace, "x=1")
    kube_cluster.kubectl(
        "patch",
        "perfrun",
        "pol-ok",
        "-n",
        kube_namespace,
        "--type=merge",
        "-p",
        json.dumps({"metadata": {"finalizers": ["example.com/hold"]}}),
    )
    kube_cluster.kubectl("delete", "perfrun", "pol-ok", "-n", kube_namespace, "--wait=false")
    kube_cluster.kubectl(
        "patch",
        "perfrun",
        "pol-ok",
        "-n",
        kube_namespace,
        "--type=merge",
        "-p",
        json.dumps({"metadata": {"finalizers": None}}),
    )
    poll_until(
        lambda: not kube_cluster.exists("perfrun", "pol-ok", "-n", kube_namespace),
        timeout=30,
        what="the run to be deleted",
    )


def test_a_policy_removed_and_installed_again_is_enforced_again(
    kube_cluster: KubeCluster, kube_namespace: str, policy: str
) -> None:
    """`helm uninstall` then `install`: the policy and its binding go, the API server stops
    judging by them, and the same objects come back. A policy that read its limits from a
    ConfigMap (paramKind) refused every PerfRun from then on with "no params found", until
    the API server restarted (kube-apiserver 1.36 stops a built-in paramKind's informer for
    good once no binding names it: kubernetes#133827)."""
    docs = helm_template(kube_cluster, kube_namespace, VALUES)
    over = variant(lambda s: s["load"]["budget"].update(maxRps=60), "pol-again")
    kube_cluster.kubectl("delete", "validatingadmissionpolicybinding", policy)
    kube_cluster.kubectl("delete", "validatingadmissionpolicy", policy)
    poll_until(
        lambda: dry_run(kube_cluster, kube_namespace, over).returncode == 0,
        timeout=60,
        what="the removed policy to stop judging",
    )
    kube_cluster.apply(yaml.safe_dump_all(docs))
    poll_until(
        lambda: "policy.maxRps 50" in dry_run(kube_cluster, kube_namespace, over).stderr,
        timeout=60,
        what="the policy installed again to be enforced",
    )
    within = variant(lambda s: None, "pol-within")
    assert dry_run(kube_cluster, kube_namespace, within).returncode == 0
