"""A corpus of hostile and careless PerfRuns (issue 14), each a small edit of a valid example,
against the real API server and the real operator on kwok, side by side. Each is refused at
admission naming the field, or reaches the terminal phase and reason written beside it
within its TTL; none leaves a traceback in the operator's log, all are deletable and leave no
namespace behind. (tests/api/invalid/ holds the specs the schema refuses, one file each;
test_hostile_cluster.py the cases that need a cluster policy or an edit while running.)"""

from __future__ import annotations

import copy
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.cluster import KubeCluster
from tests.support.operator import OperatorProcess
from tests.support.waiting import poll_until

pytestmark = pytest.mark.cluster

EXAMPLES = Path(__file__).parents[2] / "examples"
TERMINAL = {"Succeeded", "Failed", "Expired", "Aborted", "Invalid"}
TTL = "90s"
AT_ONCE = 10
Doc = dict[str, Any]


def _base(file: str) -> Doc:
    doc: Doc = yaml.safe_load((EXAMPLES / file).read_text())
    doc["spec"]["ttl"] = {"maxDuration": TTL, "afterFinished": "0s", "keepOnFailure": "0s"}
    return doc


MINIMAL = _base("perfrun-minimal.yaml")
FULL = _base("perfrun-full.yaml")
# the queue-drain gate waits its 2m after the load: on kwok nothing drains, the TTL would end it
FULL["spec"]["analysis"]["gates"] = [
    g
    for g in FULL["spec"]["analysis"]["gates"]
    if g["metric" if "metric" in g else "name"] != "queueDepth"
]


@dataclass(frozen=True)
class Case:
    """One edit of an example; what must come of it is in ``EXPECTED``."""

    id: str
    base: Doc
    edit: Callable[[Doc], None]
    raw: tuple[str, str] = ("", "")  # a replacement in the JSON text (what json cannot say)


def _spec(doc: Doc) -> Doc:
    spec: Doc = doc["spec"]
    return spec


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    """An edit setting ``path`` (dots; [i] for list items) under the document."""

    def edit(doc: Doc) -> None:
        node: Any = doc
        parts = path.replace("[", ".[").split(".")
        for part in parts[:-1]:
            node = node[int(part[1:-1])] if part.startswith("[") else node.setdefault(part, {})
        last = parts[-1]
        if last.startswith("["):
            node[int(last[1:-1])] = value
        else:
            node[last] = value

    return edit


def _all(*edits: Callable[[Doc], None]) -> Callable[[Doc], None]:
    def edit(doc: Doc) -> None:
        for one in edits:
            one(doc)

    return edit


def _nested(depth: int) -> Any:
    body: Any = "leaf"
    for _ in range(depth):
        body = {"a": body}
    return body


CASES = [
    Case(
        "cpu-micro",
        MINIMAL,
        _set("spec.environment.workloads[0].resources", {"requests": {"cpu": "1u"}}),
    ),
    Case(
        "memory-exponent",
        MINIMAL,
        _set(
            "spec.environment.workloads[0].resources",
            {"requests": {"memory": "1e3"}, "limits": {"memory": "1E"}},
        ),
    ),
    Case("storage-fraction", FULL, _set("spec.environment.components[0].storage", "0.5")),
    Case(
        "unicode-path",
        MINIMAL,
        _set("spec.load.scenarios[0].path", "/caf\u00e9/\u2603/\U0001f600"),
    ),
    Case(
        "unicode-header",
        MINIMAL,
        _set("spec.load.scenarios[0].headers", {"X-Name": "J\u00fcrgen \u2603"}),
    ),
    Case(
        "unicode-setting",
        FULL,
        _set(
            "spec.environment.components[0].settings",
            {"application_name": "\u00e9t\u00e9 \U0001f600"},
        ),
    ),
    Case("unicode-gate-name", MINIMAL, _set("spec.analysis.gates[0].name", "p99-\u00e9")),
    Case("replicas-max", MINIMAL, _set("spec.environment.workloads[0].replicas", 50)),
    Case("replicas-zero", MINIMAL, _set("spec.environment.workloads[0].replicas", 0)),
    Case("name-at-limit", MINIMAL, _set("metadata.name", "a" * 40)),
    Case("name-with-dots", MINIMAL, _set("metadata.name", "a.b.c")),
    Case(
        "workload-name-at-limit",
        MINIMAL,
        _all(
            _set("spec.environment.workloads[0].name", "w" * 40),
            _set("spec.load.target", f"http://{'w' * 40}:80"),
        ),
    ),
    Case(
        "component-name-at-limit",
        FULL,
        _all(
            _set("spec.environment.components[0].name", "d" * 40),
            _set("spec.dataset.into", "d" * 40),
        ),
    ),
    Case("body-deep", MINIMAL, _set("spec.load.scenarios[0].body", _nested(200))),
    Case("body-string", MINIMAL, _set("spec.load.scenarios[0].body", "plain text")),
    Case(
        "body-list",
        MINIMAL,
        _set("spec.load.scenarios[0].body", [1, "two", None, {"x": []}]),
    ),
    Case("body-null", MINIMAL, _set("spec.load.scenarios[0].body", None)),
    Case(
        "path-double-slash",
        MINIMAL,
        _set("spec.load.scenarios[0].path", "//evil.example/x"),
    ),
    Case(
        "path-absolute-url",
        MINIMAL,
        _set("spec.load.scenarios[0].path", "/http://169.254.169.254/latest"),
    ),
    Case(
        "baseline-odd-name",
        MINIMAL,
        _set("spec.analysis.baseline", {"name": "Main.Branch_1", "maxRegression": "10%"}),
    ),
    Case(
        "baseline-long-name",
        MINIMAL,
        _set("spec.analysis.baseline", {"name": "b" * 253, "maxRegression": "10%"}),
    ),
    Case(
        "promote-as-itself",
        MINIMAL,
        _set(
            "spec.analysis.baseline", {"name": "main", "promoteAs": "main", "maxRegression": "0%"}
        ),
    ),
    Case(
        "ttl-all-zero",
        MINIMAL,
        _set("spec.ttl", {"maxDuration": "1s", "afterFinished": "0s", "keepOnFailure": "0s"}),
    ),
    Case(
        "ttl-huge",
        MINIMAL,
        _set("spec.ttl", {"maxDuration": "87600h", "afterFinished": "87600h"}),
    ),
    Case("empty-gates-empty-baseline", MINIMAL, _set("spec.analysis", {"gates": []})),
    Case("empty-workloads", MINIMAL, _set("spec.environment.workloads", [])),
    Case("empty-components", FULL, _set("spec.environment.components", [])),
    Case("empty-expect-status", MINIMAL, _set("spec.load.scenarios[0].expectStatus", [])),
    Case(
        "empty-egress-ports",
        FULL,
        _set("spec.environment.egressAllow", [{"cidr": "10.20.0.0/16", "ports": []}]),
    ),
    Case(
        "duplicate-scenarios",
        MINIMAL,
        _set(
            "spec.load.scenarios",
            [{"name": "a", "weight": 1, "path": "/"}, {"name": "a", "weight": 1, "path": "/x"}],
        ),
    ),
    Case(
        "duplicate-gates",
        MINIMAL,
        _set(
            "spec.analysis.gates",
            [
                {"name": "g", "metric": "latencyP99", "max": "1s"},
                {"name": "g", "metric": "errorRate", "max": "0.1"},
            ],
        ),
    ),
    Case(
        "duplicate-env",
        FULL,
        _set(
            "spec.environment.workloads[0].env",
            [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}],
        ),
    ),
    Case(
        "duplicate-tables",
        FULL,
        _set("spec.dataset.synthetic.tables[1].name", "accounts"),
    ),
    Case(
        "promql-empty",
        MINIMAL,
        _set("spec.analysis.gates", [{"name": "q", "promql": "", "max": "1"}]),
    ),
    Case(
        "promql-division",
        MINIMAL,
        _set("spec.analysis.gates", [{"name": "q", "promql": "1/0", "max": "1"}]),
    ),
    Case(
        "promql-range",
        MINIMAL,
        _set("spec.analysis.gates", [{"name": "q", "promql": "up[5m]", "max": "1"}]),
    ),
    Case(
        "promql-garbage",
        MINIMAL,
        _set("spec.analysis.gates", [{"name": "q", "promql": "sum(rate(", "max": "1"}]),
    ),
    Case(
        "promql-long",
        MINIMAL,
        _set(
            "spec.analysis.gates",
            [{"name": "q", "promql": "vector(1)" + " + vector(1)" * 900, "max": "1"}],
        ),
    ),
    Case("gate-max-exponent", MINIMAL, _set("spec.analysis.gates[1].max", "1e308")),
    Case("rate-tiny", MINIMAL, _set("spec.load.ramp.steps[0].rate", 0.0001)),
    Case("hold-zero", MINIMAL, _set("spec.load.ramp.steps[0].hold", "0s")),
    Case("dataset-zero-rows", FULL, _set("spec.dataset.synthetic.tables[0].rows", 0)),
    Case("dataset-no-tables", FULL, _set("spec.dataset.synthetic.tables", [])),
    Case(
        "dataset-reserved-column",
        FULL,
        _set("spec.dataset.synthetic.tables[0].columns[1].name", "select"),
    ),
    Case(
        "dataset-null-fraction-one",
        FULL,
        _set("spec.dataset.synthetic.tables[0].columns[2].nullFraction", 1.0),
    ),
    Case(
        "dataset-empty-enum",
        FULL,
        _set("spec.dataset.synthetic.tables[0].columns[3].values", {}),
    ),
    Case(
        "target-other-namespace",
        MINIMAL,
        _set("spec.load.target", "http://kubernetes.default.svc:443"),
    ),
    Case("target-trailing-path", MINIMAL, _set("spec.load.target", "http://api:80/base/")),
    Case(
        "annotation-too-long",
        MINIMAL,
        _set(
            "spec.environment.workloads[0].podMetadata",
            {"labels": {"team": "t" * 63}, "annotations": {"note": "n" * 60000}},
        ),
    ),
    Case("ready-timeout-zero", MINIMAL, _set("spec.environment.readyTimeout", "0s")),
    Case(
        "body-very-deep",
        MINIMAL,
        _set("spec.load.scenarios[0].body", {"deep": "DEEP"}),
        raw=('"DEEP"', '{"a":' * 3000 + "1" + "}" * 3000),
    ),
    Case(
        "body-number-overflow",
        MINIMAL,
        _set("spec.load.scenarios[0].body", {"n": "HUGE"}),
        raw=('"HUGE"', "1e400"),
    ),
    Case(
        "body-big-integer",
        MINIMAL,
        _set("spec.load.scenarios[0].body", {"n": 123456789012345678901234567890}),
    ),
    Case(
        "emoji-env",
        MINIMAL,
        _set(
            "spec.environment.workloads[0].env",
            [{"name": "GREETING", "value": "hi \U0001f600\u0085\ufeff"}],
        ),
    ),
    Case(
        "env-reserved-name",
        MINIMAL,
        _set("spec.environment.workloads[0].env", [{"name": "PERFRUN_RUN_ID", "value": "x"}]),
    ),
    Case("analysis-step-zero", MINIMAL, _set("spec.analysis.step", "0s")),
    Case(
        "query-timeout-zero",
        MINIMAL,
        _set("spec.analysis.prometheus", {"embedded": True, "queryTimeout": "0s"}),
    ),
    Case("request-timeout-zero", MINIMAL, _set("spec.load.requestTimeout", "0s")),
    Case(
        "adaptive-window-zero",
        MINIMAL,
        _set("spec.load.adaptive", {"backOffOn": {"statusCodes": [503]}, "window": "0s"}),
    ),
    Case(
        "migrations-timeout-zero",
        MINIMAL,
        _set("spec.environment.migrations", {"image": "nginx:1.27", "timeout": "0s"}),
    ),
    Case("max-duration-zero", MINIMAL, _set("spec.ttl.maxDuration", "0s")),
    Case("load-duration-zero", MINIMAL, _set("spec.load.budget.maxDuration", "0s")),
    Case(
        "many-annotations",
        MINIMAL,
        _set(
            "spec.environment.workloads[0].podMetadata",
            {"annotations": {f"a{i}.example/n": "v" * 4000 for i in range(80)}},
        ),
    ),
    Case(
        "egress-duplicates",
        FULL,
        _set("spec.environment.egressAllow", [{"cidr": "10.20.0.0/16", "ports": [443, 443]}] * 2),
    ),
    Case(
        "queue-gate-without-queue",
        MINIMAL,
        _set(
            "spec.analysis.gates",
            [{"name": "q", "metric": "queueDepth", "drainTo": 0, "within": "10s"}],
        ),
    ),
    Case("accounts-reversed", MINIMAL, _set("spec.load.accounts", {"min": 10, "max": 1})),
    Case(
        "env-value-huge",
        FULL,
        _set(
            "spec.environment.workloads[0].env",
            [{"name": f"V{i}", "value": "v" * 4096} for i in range(64)],
        ),
    ),
]


# On kwok no pod really runs: a run the operator carries through every phase ends when its
# analysis finds no Prometheus answering. That is the end of every case the operator takes.
THROUGH = ("Failed/Inconclusive", "")
# Refused, naming the field: by the API server at admission, or -- for what the CRD cannot
# say (a body's depth) or a cluster whose CRD is older than the operator -- by the
# operator's own validation (Invalid/InvalidSpec) before anything is created.
REFUSED = "refused"
EXPECTED: dict[str, tuple[str, str]] = {
    "cpu-micro": THROUGH,
    "memory-exponent": THROUGH,
    "storage-fraction": THROUGH,
    "unicode-path": THROUGH,
    "unicode-header": THROUGH,
    "unicode-setting": THROUGH,  # an emoji broke the apply (ApplyRejected) before
    "unicode-gate-name": (REFUSED, "spec.analysis.gates[0].name"),
    "replicas-max": THROUGH,
    "replicas-zero": THROUGH,
    "name-at-limit": THROUGH,
    "name-with-dots": THROUGH,
    "workload-name-at-limit": THROUGH,
    "component-name-at-limit": THROUGH,
    "body-deep": (REFUSED, "spec.load.scenarios[0].body: the body nests deeper than 32"),
    "body-string": THROUGH,
    "body-list": THROUGH,
    "body-null": THROUGH,
    "path-double-slash": THROUGH,
    "path-absolute-url": THROUGH,
    "baseline-odd-name": (REFUSED, "spec.analysis.baseline.name"),
    "baseline-long-name": (REFUSED, "spec.analysis.baseline.name"),
    "promote-as-itself": THROUGH,
    "ttl-all-zero": ("Expired/Expired", "ttl.maxDuration 1s passed"),
    "ttl-huge": THROUGH,
    "empty-gates-empty-baseline": ("Failed/Inconclusive", "no gates and no baseline"),
    "empty-workloads": ("Invalid/InvalidSpec", "load.target host 'api' is not a workload"),
    "empty-components": (REFUSED, "spec.dataset.into"),
    "empty-expect-status": THROUGH,
    "empty-egress-ports": THROUGH,
    "duplicate-scenarios": (REFUSED, "spec.load.scenarios"),
    "duplicate-gates": (REFUSED, "spec.analysis.gates"),
    "duplicate-env": (REFUSED, "spec.environment.workloads[0].env"),  # stuck till the TTL before
    "duplicate-tables": (REFUSED, "spec.dataset.synthetic.tables"),
    "promql-empty": (REFUSED, "spec.analysis.gates[0].promql"),
    "promql-division": THROUGH,
    "promql-range": THROUGH,
    "promql-garbage": THROUGH,
    "promql-long": (REFUSED, "spec.analysis.gates[0].promql"),
    "gate-max-exponent": (REFUSED, "spec.analysis.gates[1].max"),
    "rate-tiny": (REFUSED, "spec.load.ramp.steps[0].rate"),
    "hold-zero": THROUGH,
    "dataset-zero-rows": THROUGH,
    "dataset-no-tables": (REFUSED, "spec.dataset.synthetic.tables"),
    "dataset-reserved-column": THROUGH,
    "dataset-null-fraction-one": THROUGH,
    "dataset-empty-enum": (REFUSED, "spec.dataset.synthetic.tables[0].columns[3].values"),
    "target-other-namespace": ("Invalid/InvalidSpec", "'kubernetes.default.svc' is not a workload"),
    "target-trailing-path": THROUGH,
    "annotation-too-long": (REFUSED, "podMetadata.annotations.note"),
    "ready-timeout-zero": (REFUSED, "spec.environment.readyTimeout"),
    "body-very-deep": (REFUSED, "spec.load.scenarios[0].body: the body nests deeper than 32"),
    "body-number-overflow": (REFUSED, "1e400"),  # kubectl's own validation, before the server
    "body-big-integer": THROUGH,
    "emoji-env": THROUGH,
    "env-reserved-name": (REFUSED, "names starting with PERFRUN_ are set by the operator"),
    "analysis-step-zero": (REFUSED, "spec.analysis.step"),
    "query-timeout-zero": (REFUSED, "spec.analysis.prometheus.queryTimeout"),
    "request-timeout-zero": (REFUSED, "spec.load.requestTimeout"),
    "adaptive-window-zero": (REFUSED, "spec.load.adaptive.window"),
    "migrations-timeout-zero": (REFUSED, "spec.environment.migrations.timeout"),
    "max-duration-zero": (REFUSED, "spec.ttl.maxDuration"),
    "load-duration-zero": (REFUSED, "maxDuration"),
    "many-annotations": (REFUSED, "podMetadata.annotations"),
    "egress-duplicates": THROUGH,
    "queue-gate-without-queue": ("Invalid/InvalidSpec", "measures queueDepth but the environment"),
    "accounts-reversed": (REFUSED, "spec.load.accounts.min"),
    "env-value-huge": THROUGH,
}


def _doc(case: Case, index: int) -> Doc:
    doc = copy.deepcopy(case.base)
    doc["metadata"] = {"name": f"c{index:02d}-{case.id}"[:40].rstrip("-")}
    case.edit(doc)
    return doc


def _outcome(obj: Doc) -> tuple[str, str, str]:
    status = obj.get("status") or {}
    stalled = {c["type"]: c for c in status.get("conditions") or []}.get("Finished") or {}
    return str(status.get("phase")), str(stalled.get("reason")), str(stalled.get("message"))


@pytest.mark.timeout(900)
def test_each_hostile_spec_is_refused_at_admission_or_ends_with_its_reason_within_its_ttl(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    perfrun_operator: OperatorProcess,
) -> None:
    # a body nested 3000 deep is read back here too (as the operator reads it: perfrun/cli.py)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 30_000))
    try:
        _run_corpus(kube_cluster, kube_namespace, perfrun_operator)
    finally:
        sys.setrecursionlimit(limit)


def test_every_case_says_what_must_come_of_it() -> None:
    assert sorted(EXPECTED) == sorted(c.id for c in CASES)
    assert len(CASES) >= 15


def _run_corpus(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_operator: OperatorProcess
) -> None:
    results: dict[str, str] = {}
    queue = list(enumerate(CASES))
    running: dict[str, tuple[Case, float]] = {}
    deadline = time.monotonic() + 600
    while (queue or running) and time.monotonic() < deadline:
        while queue and len(running) < AT_ONCE:  # a few at a time: a 2-core shared machine
            i, case = queue.pop(0)
            doc = _doc(case, i)
            text = json.dumps(doc).replace(*case.raw) if case.raw[0] else json.dumps(doc)
            created = kube_cluster.kubectl(
                "create", "-n", kube_namespace, "-f", "-", input=text, check=False
            )
            if created.returncode != 0:
                results[case.id] = "admission: " + " ".join(created.stderr.split())[:400]
            else:
                running[doc["metadata"]["name"]] = (case, time.monotonic())
        for obj in kube_cluster.get_json("perfruns", "-n", kube_namespace)["items"]:
            name = obj["metadata"]["name"]
            phase, reason, message = _outcome(obj)
            if name not in running or phase not in TERMINAL:
                continue
            case, started = running.pop(name)
            took = time.monotonic() - started
            results[case.id] = f"{phase}/{reason}: {message[:400]} ({took:.0f}s)"
            kube_cluster.kubectl("delete", "perfrun", name, "-n", kube_namespace, "--wait=false")
        time.sleep(1)
    for name, (case, _) in running.items():
        obj = kube_cluster.get_json("perfrun", name, "-n", kube_namespace)
        results[case.id] = f"STUCK {_outcome(obj)} {json.dumps(obj.get('status'))[:300]}"
    for case in CASES:
        print(f"{case.id}: {results.get(case.id)}")
    log = perfrun_operator.log.read_text(errors="replace")
    # every run deletable: the finalizer goes, and so does every run namespace
    poll_until(
        lambda: not kube_cluster.get_json("perfruns", "-n", kube_namespace)["items"],
        timeout=120,
        what="every PerfRun of the corpus to be deleted",
    )
    poll_until(
        lambda: (
            not [
                n
                for n in kube_cluster.get_json("namespaces", "-l", "perfrun.dev/perfrun")["items"]
                if n["metadata"]["labels"].get("perfrun.dev/perfrun-namespace") == kube_namespace
            ]
        ),
        timeout=120,
        what="every run namespace to go",
    )
    problems = []
    for case in CASES:
        got = results.get(case.id, "")
        expect, text = EXPECTED[case.id]
        if expect == REFUSED:
            ok = got.startswith(("admission:", "Invalid/InvalidSpec:")) and text in got
        else:
            ok = got.startswith(expect + ":") and text in got
        if not ok:
            problems.append(f"{case.id}: expected {expect} {text!r}, got {got}")
    assert "Traceback" not in log, log[log.index("Traceback") - 500 :][:4000]
    assert not problems, "\n".join(problems)
