"""A property over random mutations of the valid examples (issue 14), against the real API
server and the real operator on kwok: every mutated PerfRun is either refused at admission
(`kubectl create --dry-run=server`) or, once created, gets a status within a few ticks and
reaches a terminal phase within its TTL -- never "no status after N ticks", never stuck --
and is deletable. Bounded: a few batches of mutations, each batch run side by side."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.cluster import KubeCluster
from tests.support.operator import OperatorProcess

pytestmark = pytest.mark.cluster

EXAMPLES = Path(__file__).parents[2] / "examples"
BASES = [
    yaml.safe_load((EXAMPLES / f).read_text())
    for f in ("perfrun-minimal.yaml", "perfrun-full.yaml")
]
TERMINAL = {"Succeeded", "Failed", "Expired", "Aborted", "Invalid"}
TTL_S = 40  # every mutated run gets ttl.maxDuration 40s (unless the mutation changes ttl)
STATUS_WITHIN_S = 15  # the operator ticks every second: a status within a few ticks
BATCH = 8

HOSTILE_TEXT = [
    "",
    " ",
    "-1Gi",
    "0",
    "0Gi",
    "1e30",
    "1E",
    "+5",
    "0.0000001",
    "a\nb",
    "x\r\nHost: evil",
    "\x00",
    "\t",
    "169.254.169.254/32",
    "0.0.0.0/0",
    "::/0",
    "127.0.0.1/8",
    "10.1.0.0/16",
    "http://169.254.169.254/",
    "http://x/?",
    "http://a@b/",
    "http://prom.kube-system.svc:9090",
    "privileged",
    "restricted",
    "1s",
    "0s",
    "999h",
    "1ms",
    "x" * 300,
    "{account}",
    "{nope}",
    "nginx:1.27",
    "registry.example/x:1",
    "/",
    "/a b",
    "1Ti",
    "100000",
    "5m",
]
# What a careless or hostile author writes: wrong signs and sizes, control characters, the
# addresses no run may reach, URLs that cancel paths, wrong types, and nothing at all.
HOSTILE = st.one_of(
    st.sampled_from(
        [
            -1,
            0,
            1,
            2**31,
            10**15,
            -(2**40),
            0.5,
            True,
            *HOSTILE_TEXT,
            [],
            {},
            [1, 2],
            {"a": "b"},
            None,
        ]
    ),
    st.integers(min_value=-(10**6), max_value=10**7),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=12),
)


def paths(node: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a document a value sits (containers included)."""
    if at:
        yield at
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths(v, (*at, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, (*at, i))


def mutate(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node: Any = out
    for part in path[:-1]:
        node = node[part]
    if value is None and isinstance(node, dict):
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return out


def _leaf(doc: dict[str, Any], path: tuple[Any, ...]) -> Any:
    node: Any = doc
    for part in path:
        node = node[part]
    return node


def _like(value: Any) -> st.SearchStrategy[Any]:
    """Hostile values of the same type as ``value`` (these pass the schema's type checks
    more often, so more of them reach the operator), or anything at all."""
    if isinstance(value, bool):
        return HOSTILE
    if isinstance(value, int):
        return st.one_of(st.integers(-(10**9), 10**9), st.sampled_from([0, -1, 2**31, 1]))
    if isinstance(value, str):
        return st.one_of(
            st.sampled_from([v for v in HOSTILE_TEXT]),
            st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=12),
            st.just(value + "\n"),
            st.just(value * 2),
        )
    return HOSTILE


@st.composite
def mutations(draw: st.DrawFn) -> dict[str, Any]:
    base = copy.deepcopy(draw(st.sampled_from(BASES)))
    base["spec"].setdefault("ttl", {})["maxDuration"] = f"{TTL_S}s"
    base["spec"]["ttl"].update(afterFinished="0s", keepOnFailure="0s")
    doc = base
    for _ in range(draw(st.integers(min_value=1, max_value=2))):
        spots = [("spec", *p) for p in paths(doc["spec"])]
        leaves = [p for p in spots if not isinstance(_leaf(doc, p), dict | list)]
        path = draw(st.sampled_from(leaves if draw(st.booleans()) or not spots else spots))
        doc = mutate(doc, path, draw(_like(_leaf(doc, path))))
    return doc


def phase(cluster: KubeCluster, ns: str, name: str) -> str | None:
    proc = cluster.kubectl(
        "get", "perfrun", name, "-n", ns, "-o", "jsonpath={.status.phase}", check=False
    )
    return proc.stdout.strip() or None if proc.returncode == 0 else "gone"


_counter = iter(range(10**6))


@settings(
    max_examples=3,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(mutations(), min_size=BATCH, max_size=BATCH))
def test_every_mutation_is_refused_at_admission_or_ends_within_its_ttl(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    perfrun_operator: OperatorProcess,
    batch: list[dict[str, Any]],
) -> None:
    ns = kube_namespace
    created: dict[str, float] = {}
    docs: dict[str, dict[str, Any]] = {}
    refused = 0
    for doc in batch:
        name = f"mut-{next(_counter)}"
        doc = copy.deepcopy(doc)
        doc["metadata"] = {"name": name}
        text = json.dumps(doc)
        dry = kube_cluster.kubectl(
            "create", "--dry-run=server", "-n", ns, "-f", "-", input=text, check=False
        )
        if dry.returncode != 0:
            refused += 1
            assert dry.stderr.strip(), "a refusal says why"
            continue
        real = kube_cluster.kubectl("create", "-n", ns, "-f", "-", input=text, check=False)
        assert real.returncode == 0, (dry.stdout, real.stderr)  # dry run and real agree
        created[name] = time.monotonic()
        docs[name] = doc
    # every created run: a status within a few ticks, a terminal phase within its TTL
    pending = dict(created)
    deadline = time.monotonic() + TTL_S + 60
    while pending and time.monotonic() < deadline:
        for name, at in list(pending.items()):
            now_phase = phase(kube_cluster, ns, name)
            if now_phase is None:
                assert time.monotonic() - at < STATUS_WITHIN_S, (
                    f"{name}: no status after {STATUS_WITHIN_S}s",
                    json.dumps(docs[name]["spec"]),
                    perfrun_operator.logs(),
                )
            elif now_phase in TERMINAL:
                del pending[name]
        time.sleep(1)
    assert not pending, {
        n: (
            kube_cluster.get_json("perfrun", n, "-n", ns).get("status", {}).get("message"),
            json.dumps(docs[n]["spec"]),
        )
        for n in pending
    }
    # and each goes when deleted
    if created:
        kube_cluster.kubectl("delete", "perfrun", *created, "-n", ns, "--timeout=90s", timeout=100)
    print(f"batch: {refused} refused at admission, {len(created)} ran to a terminal phase")
