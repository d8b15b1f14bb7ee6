"""Generate the PerfRun CustomResourceDefinition from the pydantic models.

pydantic's JSON Schema is close to what Kubernetes wants but not structural: it uses
``$ref``, ``anyOf`` with ``null`` for optional fields, ``const`` and titles. This module
rewrites it into a structural schema: refs inlined, optional means "not required" (Kubernetes
prunes nulls), ``int | str`` becomes ``x-kubernetes-int-or-string``."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from perfrun.api.baseline import (
    BASELINE_KIND,
    BASELINE_PLURAL,
    BASELINE_SHORT_NAMES,
    BASELINE_SINGULAR,
    PerfBaselineSpec,
)
from perfrun.api.perfrun import (
    GROUP,
    KIND,
    MAX_NAME_LENGTH,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
    PerfRun,
    PerfRunSpec,
)
from perfrun.api.status import PerfRunStatus

_DROP_KEYS = {"title", "discriminator"}
_INT_OR_STRING_TYPES = [{"type": "integer"}, {"type": "string"}]


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_resolve(x, defs) for x in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node:
        target = copy.deepcopy(defs[node.pop("$ref").rsplit("/", 1)[-1]])
        merged = _resolve(target, defs)
        merged.update({k: _resolve(v, defs) for k, v in node.items()})
        return _structural(merged)
    out = {
        k: (v if k in ("default", "enum", "x-kubernetes-validations") else _resolve(v, defs))
        for k, v in node.items()
        if k not in _DROP_KEYS
    }
    if "properties" in node:
        out["properties"] = {k: _resolve(v, defs) for k, v in node["properties"].items()}
    return _structural(out)


def _structural(node: dict[str, Any]) -> dict[str, Any]:
    """Rewrite one (already resolved) schema node into Kubernetes' structural form."""
    if "anyOf" in node:
        branches = [b for b in node.pop("anyOf") if b != {"type": "null"}]
        if node.get("default", "unset") is None:
            node.pop("default")
        if len(branches) == 1:
            base = dict(branches[0])
            base.update(node)  # the property's own description/default win
            node = _structural(base)
        elif _is_int_or_string(branches):
            node["x-kubernetes-int-or-string"] = True
            for b in branches:
                if "pattern" in b and "pattern" not in node:
                    node["pattern"] = b["pattern"]
                if "maxLength" in b and "maxLength" not in node:
                    node["maxLength"] = b["maxLength"]
        else:  # pragma: no cover - guarded by a test over the whole schema
            raise ValueError(f"cannot express anyOf {branches!r} structurally")
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        # JSON Schema 2020 writes a number; Kubernetes' OpenAPI v3 wants draft 4's boolean.
        value = node.get(bound)
        if isinstance(value, int | float) and not isinstance(value, bool):
            node[flag] = value
            node[bound] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
        node.setdefault("type", "string")
    if node.get("x-kubernetes-int-or-string"):
        node.pop("type", None)
        node.pop("anyOf", None)
    if node.get("x-kubernetes-preserve-unknown-fields") and node.get("default", 0) is None:
        node.pop("default")
    if node.get("type") == "object" and "properties" in node:
        node.pop("additionalProperties", None)
    return node


def _fill_defaults(node: dict[str, Any]) -> None:
    """Turn ``default: {}`` into the object its children's defaults make: the API server
    checks defaults against the CEL rules without applying nested defaults first."""
    for child in node.get("properties", {}).values():
        _fill_defaults(child)
    if isinstance(node.get("items"), dict):
        _fill_defaults(node["items"])
    if node.get("default") == {} and "properties" in node:
        node["default"] = {
            name: child["default"]
            for name, child in node["properties"].items()
            if "default" in child
        }


def _is_int_or_string(branches: list[dict[str, Any]]) -> bool:
    kinds = sorted(b.get("type", "") for b in branches)
    return kinds == ["integer", "string"]


def _schema_of(model: type[Any]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    return dict(_resolve(raw, defs))


def openapi_schema() -> dict[str, Any]:
    """The structural openAPIV3Schema of the PerfRun resource."""
    spec = _schema_of(PerfRunSpec)
    status = _schema_of(PerfRunStatus)
    # The API server serves a fresh PerfRun with status.observedGeneration 0, behind its
    # generation: kstatus (Flux) reads it InProgress from the create on, not Current (which
    # is what kstatus says of an object without status), and Argo CD's check Progressing.
    status["default"] = {"observedGeneration": 0}
    _fill_defaults(spec)
    root_rules = [r.to_crd() for r in PerfRun.__rules__ if r.cel != "true"]
    return {
        "type": "object",
        "description": (
            "PerfRun turns one object into an isolated, production-shaped, self-cleaning "
            "performance test: a namespace with the application's components and workloads, "
            "a restored dataset, budgeted load, Prometheus-measured results judged against "
            "gates and a baseline, and teardown under a TTL."
        ),
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "API version: perfrun.dev/v1alpha1."},
            "kind": {"type": "string", "description": "Kind: PerfRun."},
            # the API server allows constraining metadata.name (and only it, with generateName)
            # here: a too-long name is refused with the field named, not a rule at the root
            "metadata": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "maxLength": MAX_NAME_LENGTH},
                    "generateName": {"type": "string", "maxLength": MAX_NAME_LENGTH - 5},
                },
            },
            "spec": spec,
            "status": status,
        },
        **({"x-kubernetes-validations": root_rules} if root_rules else {}),
    }


def crd() -> dict[str, Any]:
    """The whole CustomResourceDefinition."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "perfrun-operator"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": ["perftest"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                        {"name": "Verdict", "type": "string", "jsonPath": ".status.verdict"},
                        {
                            "name": "P99",
                            "type": "number",
                            "jsonPath": ".status.results.p99Ms",
                            "description": "p99 latency in milliseconds",
                        },
                        {
                            "name": "Errors",
                            "type": "number",
                            "jsonPath": ".status.results.errorRate",
                            "description": "failed share of requests",
                        },
                        {
                            "name": "Namespace",
                            "type": "string",
                            "jsonPath": ".status.namespace",
                            "priority": 1,
                        },
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }


def baseline_crd() -> dict[str, Any]:
    """The PerfBaseline CustomResourceDefinition: a small, separate kind (see api/baseline.py)."""
    schema = {
        "type": "object",
        "description": (
            "PerfBaseline is a named set of results (p50/p95/p99, error rate, throughput, queue "
            "depth) that later PerfRuns are compared with; promoted from a run or written by hand."
        ),
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "API version: perfrun.dev/v1alpha1."},
            "kind": {"type": "string", "description": "Kind: PerfBaseline."},
            "metadata": {"type": "object"},
            "spec": _schema_of(PerfBaselineSpec),
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{BASELINE_PLURAL}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "perfrun-operator"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": BASELINE_KIND,
                "listKind": f"{BASELINE_KIND}List",
                "plural": BASELINE_PLURAL,
                "singular": BASELINE_SINGULAR,
                "shortNames": list(BASELINE_SHORT_NAMES),
                "categories": ["perftest"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "additionalPrinterColumns": [
                        {"name": "P99", "type": "number", "jsonPath": ".spec.values.p99Ms"},
                        {"name": "Errors", "type": "number", "jsonPath": ".spec.values.errorRate"},
                        {"name": "RPS", "type": "number", "jsonPath": ".spec.values.throughputRps"},
                        {"name": "Run", "type": "string", "jsonPath": ".spec.source.run"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


CRD_FILES = {KIND: "perfrun.dev_perfruns.yaml", BASELINE_KIND: "perfrun.dev_perfbaselines.yaml"}


def crd_yaml(kind: str = KIND) -> str:
    """A CRD as YAML, byte-for-byte what ``crds/<CRD_FILES[kind]>`` holds."""
    header = "# Generated by `perfrun crd` from perfrun.api; do not edit. `make crd` rewrites it.\n"
    body = baseline_crd() if kind == BASELINE_KIND else crd()
    return header + yaml.safe_dump(body, sort_keys=False, width=100)
