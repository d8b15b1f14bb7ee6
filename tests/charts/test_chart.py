"""The Helm chart: its CRDs are exact copies of crds/, it lints and renders with the app labels
everywhere, its ClusterRole covers every kind the renderer emits (derived from perfrun.render,
not listed here) without wildcards or escalation, and it installs on the local cluster, where
the real operator, authenticated as the chart's ServiceAccount, takes a PerfRun to its verdict
and tears it down without one forbidden call."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.cluster import KubeCluster
from tests.support.operator import OperatorProcess
from tests.support.waiting import poll_until

from perfrun.api import PerfRun
from perfrun.render import jobs as render_jobs
from perfrun.render import namespace as render_namespace
from perfrun.render.all import environment
from perfrun.render.context import RunContext

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "perfrun-operator"
CRDS = REPO_ROOT / "crds"
EXAMPLES = REPO_ROOT / "examples"
APP_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)
# Verbs that let a holder grant itself more than it has.
ESCALATING = {"*", "escalate", "bind", "impersonate"}
Manifest = dict[str, Any]


# ---- CRD copies (no cluster) ------------------------------------------------------------------


def test_chart_crds_are_exact_copies_of_crds() -> None:
    ours = sorted(p.name for p in CRDS.glob("*.yaml"))
    chart = sorted(p.name for p in (CHART / "files" / "crds").glob("*.yaml"))
    assert ours, "crds/ is empty"
    assert chart == ours, "chart CRDs differ from crds/: run `make crd` and commit"
    for name in ours:
        assert (CHART / "files" / "crds" / name).read_bytes() == (CRDS / name).read_bytes(), (
            f"charts/perfrun-operator/files/crds/{name} drifted from crds/{name}: run `make crd`"
        )


# ---- helm -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Helm:
    cluster: KubeCluster

    def run(self, *args: str, timeout: float = 180) -> str:
        proc = subprocess.run(
            [str(self.cluster.bin_dir / "helm"), *args],
            env=self.cluster.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert proc.returncode == 0, f"helm {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    def template(
        self, *args: str, release: str = "perfrun", ns: str = "perfrun-system"
    ) -> list[Manifest]:
        out = self.run("template", release, str(CHART), "--namespace", ns, *args)
        return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module")
def helm(kube_cluster: KubeCluster) -> Helm:
    return Helm(kube_cluster)


def by_kind(docs: list[Manifest], kind: str) -> Manifest:
    (found,) = [d for d in docs if d["kind"] == kind]
    return found


@pytest.mark.cluster
def test_helm_lint(helm: Helm) -> None:
    out = helm.run("lint", "--strict", str(CHART))
    assert "0 chart(s) failed" in out


@dataclass(frozen=True)
class Refused:
    values: tuple[str, ...]
    says: tuple[str, ...]


SCHEMA_REFUSALS = {
    "wrong-type": Refused(("--set", "replicaCount=two"), ("/replicaCount", "want integer")),
    "string-port": Refused(("--set-string", "health.port=80"), ("/health/port", "want integer")),
    "unknown-key": Refused(("--set", "peering.lifetim=30"), ("/peering", "'lifetim'")),
    "enum": Refused(("--set", "image.pullPolicy=Sometimes"), ("/image/pullPolicy",)),
    "below-minimum": Refused(("--set", "peering.lifetime=2"), ("/peering/lifetime",)),
}


@pytest.mark.cluster
@pytest.mark.parametrize("case", SCHEMA_REFUSALS.values(), ids=SCHEMA_REFUSALS.keys())
def test_helm_install_refuses_a_wrong_value_naming_the_field(
    helm: Helm, kube_namespace: str, case: Refused
) -> None:
    """values.schema.json: a real `helm install` against the cluster stops before it creates
    anything, and says which field is wrong."""
    proc = subprocess.run(
        [
            helm.cluster.bin_dir / "helm",
            "install",
            "bad",
            CHART,
            "-n",
            kube_namespace,
            *case.values,
        ],
        env=helm.cluster.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0, proc.stdout
    assert "values don't meet the specifications of the schema" in proc.stderr, proc.stderr
    for text in case.says:
        assert text in proc.stderr, proc.stderr
    listed = helm.run("list", "-n", kube_namespace, "-a", "-q")
    assert "bad" not in listed.split()


OPTIONAL_OFF = (
    "--set",
    "podDisruptionBudget.enabled=false,metrics.service.enabled=false,peering.create=false",
    "--set",
    "serviceAccount.create=false,serviceAccount.name=ops,topologySpread=false",
    "--set",
    "secretSeed.existingSecret=ops-seed,crds.install=false",
)


@pytest.mark.cluster
@pytest.mark.parametrize("values", [(), OPTIONAL_OFF], ids=["defaults", "optional-off"])
def test_every_rendered_object_carries_the_app_labels(helm: Helm, values: tuple[str, ...]) -> None:
    docs = helm.template(*values, release="rel")
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "ClusterRole", "ClusterRoleBinding"} <= kinds
    optional = {
        "ServiceAccount",
        "Service",
        "PodDisruptionBudget",
        "ClusterKopfPeering",
        "Secret",
        "CustomResourceDefinition",
    }
    assert optional <= kinds if not values else not optional & kinds
    for doc in docs:
        labels = doc["metadata"].get("labels") or {}
        missing = [k for k in APP_LABELS if not labels.get(k)]
        assert not missing, f"{doc['kind']}/{doc['metadata']['name']} lacks {missing}"
        assert labels["app.kubernetes.io/instance"] == "rel"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"  # never perfrun-operator's
    deployment = by_kind(docs, "Deployment")
    selector = deployment["spec"]["selector"]["matchLabels"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    for kind in ("Service", "PodDisruptionBudget"):
        for doc in (d for d in docs if d["kind"] == kind):
            chosen = doc["spec"]["selector"]
            assert chosen.get("matchLabels", chosen) == selector, kind


@pytest.mark.cluster
def test_service_and_pod_monitors_select_the_operators_metrics(helm: Helm) -> None:
    docs = helm.template(
        "--set",
        "metrics.serviceMonitor.enabled=true,metrics.podMonitor.enabled=true",
        "--set",
        "metrics.serviceMonitor.labels.release=prom",
        release="rel",
    )
    service = next(d for d in docs if d["kind"] == "Service")
    deployment = by_kind(docs, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    monitor = by_kind(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [
        p["name"] for p in service["spec"]["ports"]
    ]
    pods = by_kind(docs, "PodMonitor")
    assert pods["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pods["spec"]["podMetricsEndpoints"][0]["port"] in [p["name"] for p in container["ports"]]
    for doc in (monitor, pods):
        assert doc["spec"]["namespaceSelector"] == {"matchNames": ["perfrun-system"]}
        assert doc["spec"][next(k for k in doc["spec"] if k.endswith("ndpoints"))][0]["path"] == (
            "/metrics"
        )
    off = {d["kind"] for d in helm.template()}
    assert not {"ServiceMonitor", "PodMonitor"} & off  # off by default: needs its CRDs


@pytest.mark.cluster
def test_rendered_crds_are_the_crds_with_a_keep_policy(helm: Helm) -> None:
    """Templates (so `helm upgrade` upgrades them), the same schema as crds/ to the last
    digit, kept on uninstall."""
    rendered = {
        d["metadata"]["name"]: d
        for d in helm.template("--show-only", "templates/crds.yaml")
        if d["kind"] == "CustomResourceDefinition"
    }
    ours = {
        d["metadata"]["name"]: d
        for path in sorted(CRDS.glob("*.yaml"))
        for d in yaml.safe_load_all(path.read_text())
        if d
    }
    assert rendered.keys() == ours.keys()
    for name, crd in rendered.items():
        assert crd["spec"] == ours[name]["spec"], name
        assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert not (CHART / "crds").exists(), "crds/ is installed once and never upgraded by Helm"


@pytest.mark.cluster
def test_deployment_runs_the_operator_as_documented(helm: Helm) -> None:
    docs = helm.template()
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    deployment = by_kind(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] + container["args"] == [
        "perfrun",
        "operator",
        "--all-namespaces",
        "--peering",
        "perfrun",
        "--liveness",
        "http://0.0.0.0:8080/healthz",
        "--metrics-port",
        "9090",
    ]
    image = f"ghcr.io/perfrun/perfrun:{chart['appVersion']}"
    assert container["image"] == image
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["PERFRUN_IMAGE"]["value"] == image
    assert env["PERFRUN_PEERING_LIFETIME"]["value"] == "60"  # kopf's own default
    # one seed for every replica, from the chart's Secret (or one the user names)
    seed = env["PERFRUN_SECRET_SEED"]["valueFrom"]["secretKeyRef"]
    assert seed == {"name": by_kind(docs, "Secret")["metadata"]["name"], "key": "seed"}
    assert len(base64.b64decode(by_kind(docs, "Secret")["data"]["seed"])) >= 32
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"health": 8080, "metrics": 9090}
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert pod["serviceAccountName"] == by_kind(docs, "ServiceAccount")["metadata"]["name"]
    peering = by_kind(docs, "ClusterKopfPeering")
    assert (peering["apiVersion"], peering["metadata"]["name"]) == ("kopf.dev/v1", "perfrun")
    binding = by_kind(docs, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == by_kind(docs, "ClusterRole")["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": pod["serviceAccountName"], "namespace": "perfrun-system"}
    ]

    # the image is a value; the Jobs' image follows it unless set apart
    other = helm.template("--set", "image.repository=registry.local/perfrun,image.tag=dev")
    (container,) = by_kind(other, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.local/perfrun:dev"
    env = {e["name"]: e for e in container["env"]}
    assert env["PERFRUN_IMAGE"]["value"] == "registry.local/perfrun:dev"
    # a shorter peering lifetime: a killed leader is replaced sooner
    (container,) = by_kind(helm.template("--set", "peering.lifetime=15"), "Deployment")["spec"][
        "template"
    ]["spec"]["containers"]
    assert {e["name"]: e for e in container["env"]}["PERFRUN_PEERING_LIFETIME"]["value"] == "15"
    (container,) = by_kind(helm.template(*OPTIONAL_OFF), "Deployment")["spec"]["template"]["spec"][
        "containers"
    ]
    env = {e["name"]: e for e in container["env"]}
    assert env["PERFRUN_SECRET_SEED"]["valueFrom"]["secretKeyRef"]["name"] == "ops-seed"


# ---- RBAC against what the operator does ------------------------------------------------------


def granted(rules: list[Manifest], group: str, resource: str, verb: str) -> bool:
    return any(
        group in rule.get("apiGroups", [])
        and resource in rule.get("resources", [])
        and verb in rule.get("verbs", [])
        and not rule.get("resourceNames")
        for rule in rules
    )


def resource_names(cluster: KubeCluster, api_version: str) -> dict[str, str]:
    """kind -> resource (plural) for one group/version, from the API server's discovery."""
    path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    found = json.loads(cluster.kubectl("get", "--raw", path).stdout)
    return {r["kind"]: r["name"] for r in found["resources"] if "/" not in r["name"]}


def rendered(example: Path) -> tuple[list[Manifest], list[Manifest]]:
    """(everything the operator applies for the example, the environment it observes)."""
    doc = yaml.safe_load(example.read_text())
    run = PerfRun.model_validate(doc)
    ctx = RunContext(name=doc["metadata"]["name"], perfrun_namespace="team", uid="0" * 8, image="i")
    env = environment(run, ctx)
    everything = [
        render_namespace.namespace(run, ctx),
        *env,
        *render_jobs.migrations_job(run, ctx),
        *render_jobs.dataset_job(run, ctx),
        *render_jobs.load_job(run, ctx),
    ]
    return everything, env


@pytest.mark.cluster
def test_clusterrole_covers_every_kind_the_renderer_emits(
    helm: Helm, kube_cluster: KubeCluster
) -> None:
    rules: list[Manifest] = by_kind(helm.template(), "ClusterRole")["rules"]
    everything, env = rendered(EXAMPLES / "perfrun-full.yaml")
    observed = {(m["apiVersion"], m["kind"]) for m in env}
    checked: set[str] = set()
    for manifest in everything:
        api_version, kind = manifest["apiVersion"], manifest["kind"]
        group = api_version.rpartition("/")[0]
        resource = resource_names(kube_cluster, api_version)[kind]
        needed = {"create", "patch"}  # server-side apply that creates
        if (api_version, kind) in observed:
            needed.add("list")  # one LIST per kind when observing the run
        if kind in ("Namespace", "Job"):
            needed |= {"get", "delete"}  # read by name; torn down / stopped
        for verb in sorted(needed):
            assert granted(rules, group, resource, verb), f"{verb} {resource}.{group} ({kind})"
        checked.add(kind)
    # the example exercises the whole renderer: components, Prometheus, every Job
    assert {"StatefulSet", "Deployment", "Job", "Role", "NetworkPolicy"} <= checked

    # Roles it creates grant only what the operator holds itself (no escalate needed)
    for role in (m for m in everything if m["kind"] == "Role"):
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        assert granted(rules, group, resource, verb), (
                            f"Role {role['metadata']['name']} grants {verb} {resource}: the "
                            "operator must hold it to create that Role"
                        )
    # kopf and the status: watch and patch PerfRuns, patch their status, peer
    for group, resource, verb in (
        ("perfrun.dev", "perfruns", "watch"),
        ("perfrun.dev", "perfruns/status", "patch"),
        ("kopf.dev", "clusterkopfpeerings", "patch"),
        ("", "events", "create"),
        ("", "events", "list"),  # FailedCreate of a waiting StatefulSet or Job (observe.py)
    ):
        assert granted(rules, group, resource, verb), f"{verb} {resource}.{group}"


@pytest.mark.cluster
def test_clusterrole_has_no_wildcards_or_escalation(helm: Helm) -> None:
    rules: list[Manifest] = by_kind(helm.template(), "ClusterRole")["rules"]
    for rule in rules:
        for key in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[key], rule
        assert not ESCALATING & set(rule["verbs"]), rule
        assert "nonResourceURLs" not in rule
    # reading Secrets by name is not needed (observing lists them by the run's label)
    assert not granted(rules, "", "secrets", "get")
    assert not granted(rules, "rbac.authorization.k8s.io", "clusterroles", "create")


# ---- a real install ---------------------------------------------------------------------------


@pytest.fixture
def release(helm: Helm, kube_namespace: str) -> Iterator[str]:
    """A unique release (its ClusterRole, binding and ClusterKopfPeering are cluster-wide),
    uninstalled afterwards."""
    name = f"po-{secrets.token_hex(3)}"
    yield name
    helm.run("uninstall", name, "--namespace", kube_namespace, "--wait", "--ignore-not-found")


def token_kubeconfig(cluster: KubeCluster, ns: str, service_account: str, path: Path) -> Path:
    """A kubeconfig authenticating as ``service_account`` (a TokenRequest token)."""
    token = cluster.kubectl(
        "create", "token", service_account, "-n", ns, "--duration=1h"
    ).stdout.strip()
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    (cluster_entry,) = admin["clusters"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster_entry],
        "users": [{"name": service_account, "user": {"token": token}}],
        "contexts": [
            {
                "name": service_account,
                "context": {"cluster": cluster_entry["name"], "user": service_account},
            }
        ],
        "current-context": service_account,
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def can_i(cluster: KubeCluster, subject: str, *args: str) -> bool:
    proc = cluster.kubectl("auth", "can-i", f"--as={subject}", *args, check=False)
    return proc.stdout.strip() == "yes"


@pytest.mark.cluster
def test_install_and_run_a_perfrun_with_the_charts_rbac(
    helm: Helm,
    kube_cluster: KubeCluster,
    kube_namespace: str,
    perfrun_crds: None,
    release: str,
    tmp_path: Path,
) -> None:
    ns = kube_namespace
    # the shared cluster's CRDs belong to the tests (perfrun_crds), not to this release; the
    # admission policy judges this test's namespace only
    selector = json.dumps({"matchLabels": {"kubernetes.io/metadata.name": ns}})
    values = (
        "--set",
        f"peering.name={release},crds.install=false",
        "--set-json",
        f"policy.admission.namespaceSelector={selector}",
    )
    # the server validates every object first (strict field validation, admission)
    helm.run("install", release, str(CHART), "-n", ns, "--dry-run=server", *values, *OPTIONAL_OFF)
    helm.run("install", release, str(CHART), "-n", ns, *values)
    assert kube_cluster.exists("validatingadmissionpolicy", f"{release}-perfrun-operator-policy")
    fullname = f"{release}-perfrun-operator"
    # `helm test`: its Job reads /metrics through the Service (kwok completes the Job's pod
    # without running it: here the hook's wiring is what is tested, not its script)
    tested = helm.run("test", release, "-n", ns, "--timeout", "120s")
    assert f"TEST SUITE:     {fullname}-test-metrics" in tested and "Succeeded" in tested, tested
    kube_cluster.kubectl(
        "wait", "--for=condition=Available", f"deployment/{fullname}", "-n", ns, "--timeout=120s"
    )
    deployment = kube_cluster.get_json("deployment", fullname, "-n", ns)
    assert deployment["status"]["readyReplicas"] == 2
    assert kube_cluster.exists("clusterkopfpeering", release)

    # the seed of the run's passwords is generated once and survives an upgrade
    def seed() -> str:
        secret = kube_cluster.get_json("secret", f"{fullname}-seed", "-n", ns)
        value: str = secret["data"]["seed"]
        return value

    before = seed()
    helm.run("upgrade", release, str(CHART), "-n", ns, "--reuse-values", "--set", "verbose=true")
    assert seed() == before

    # the metrics Service and the PodDisruptionBudget select the two pods
    def endpoints() -> int:
        slices = kube_cluster.get_json(
            "endpointslices", "-n", ns, "-l", f"kubernetes.io/service-name={fullname}-metrics"
        )["items"]
        return sum(len(s.get("endpoints") or []) for s in slices)

    poll_until(lambda: endpoints() == 2, timeout=60, what="two metrics endpoints")
    poll_until(
        lambda: (
            kube_cluster.get_json("pdb", fullname, "-n", ns).get("status", {}).get("expectedPods")
            == 2
        ),
        timeout=60,
        what="PodDisruptionBudget covering both pods",
    )

    # what a run does not exercise on kwok, and what the role must not allow
    subject = f"system:serviceaccount:{ns}:{fullname}"
    assert can_i(kube_cluster, subject, "watch", "perfruns.perfrun.dev", "--all-namespaces")
    assert can_i(kube_cluster, subject, "patch", "clusterkopfpeerings.kopf.dev")
    assert can_i(kube_cluster, subject, "create", "perfbaselines.perfrun.dev", "-n", "team-x")
    assert can_i(kube_cluster, subject, "delete", "jobs.batch", "-n", "perf-any")
    assert not can_i(kube_cluster, subject, "get", "secrets", "-n", "kube-system")
    assert not can_i(kube_cluster, subject, "escalate", "roles.rbac.authorization.k8s.io")
    assert not can_i(kube_cluster, subject, "create", "clusterrolebindings")
    assert not can_i(kube_cluster, subject, "delete", "deployments.apps", "-n", "perf-any")

    # the real operator as that ServiceAccount (as in its pod: Prometheus by Service name, not
    # through the API server's proxy; kopf still logs in from the kubeconfig)
    kubeconfig = token_kubeconfig(kube_cluster, ns, fullname, tmp_path / "sa.kubeconfig")
    operator = OperatorProcess(
        kube_cluster,
        ns,
        tmp_path / "operator.log",
        env={"KUBECONFIG": str(kubeconfig), "KUBERNETES_SERVICE_HOST": "kubernetes.default.svc"},
    )
    operator.start()
    try:
        doc = yaml.safe_load((EXAMPLES / "perfrun-minimal.yaml").read_text())
        doc["metadata"]["name"] = "rbac"
        doc["spec"]["ttl"] = {"afterFinished": "10m", "keepOnFailure": "10m"}
        kube_cluster.apply(yaml.safe_dump(doc), "-n", ns)
        kube_cluster.kubectl(
            "wait",
            "--for=condition=Finished",
            "perfrun/rbac",
            "-n",
            ns,
            "--timeout=180s",
            timeout=190,
        )
        obj = kube_cluster.get_json("perfrun", "rbac", "-n", ns)
        run_ns = obj["status"]["namespace"]
        assert obj["status"]["phase"] == "Failed", operator.logs()  # Inconclusive on kwok
        assert "forbidden" not in json.dumps(obj["status"]).lower()
        assert kube_cluster.get_json("jobs", "-n", run_ns)["items"]
        # teardown through the finalizer: the namespace is deleted by the operator
        kube_cluster.kubectl("delete", "perfrun", "rbac", "-n", ns, "--timeout=120s", timeout=130)
        assert not kube_cluster.exists("namespace", run_ns)
    finally:
        if operator.proc is not None:
            kube_cluster.kubectl(
                "delete", "perfrun", "--all", "-n", ns, "--timeout=120s", check=False, timeout=130
            )
        operator.stop()
    log = operator.log.read_text(errors="replace")
    assert "forbidden" not in log.lower(), log[-4000:]
