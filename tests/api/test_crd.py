"""The CRD is generated, committed, structural and explainable."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from perfrun.api.crd import crd, crd_yaml, openapi_schema

CRD_FILE = Path(__file__).parents[2] / "crds" / "perfrun.dev_perfruns.yaml"
FORBIDDEN_KEYS = {"$ref", "$defs", "definitions", "const", "title", "oneOf", "allOf", "not"}


def walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


def test_committed_crd_matches_the_models() -> None:
    assert CRD_FILE.read_text() == crd_yaml(), "CRD drift: run `make crd` and commit the result"


def test_committed_baseline_crd_matches_the_models() -> None:
    committed = (CRD_FILE.parent / "perfrun.dev_perfbaselines.yaml").read_text()
    assert committed == crd_yaml("PerfBaseline"), "CRD drift: run `make crd` and commit"


def test_perfrun_crd_prints_the_same_bytes() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "perfrun.cli", "crd"], capture_output=True, text=True, check=True
    ).stdout
    assert out == CRD_FILE.read_text()


def test_names_and_versions() -> None:
    spec = crd()["spec"]
    assert spec["group"] == "perfrun.dev"
    assert spec["names"]["kind"] == "PerfRun"
    assert spec["names"]["plural"] == "perfruns"
    assert spec["names"]["shortNames"]
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1"
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Phase"] == ".status.phase"
    assert columns["Verdict"] == ".status.verdict"
    assert columns["P99"] == ".status.results.p99Ms"
    assert columns["Errors"] == ".status.results.errorRate"
    assert "Age" in columns


def test_schema_is_structural() -> None:
    for path, node in walk(openapi_schema()):
        assert not FORBIDDEN_KEYS & node.keys(), f"{path}: {FORBIDDEN_KEYS & node.keys()}"
        if node.get("x-kubernetes-int-or-string"):
            assert "type" not in node, path
            continue
        if node.get("x-kubernetes-preserve-unknown-fields"):
            continue
        assert node.get("type") in {"object", "array", "string", "integer", "number", "boolean"}, (
            f"{path} has no type"
        )
        assert "anyOf" not in node, path
        for bound in ("exclusiveMinimum", "exclusiveMaximum"):
            assert node.get(bound, True) is True, f"{path}: {bound} must be a boolean"
        if node["type"] == "array":
            assert isinstance(node.get("items"), dict), f"{path}: array without items"
        if "properties" in node:
            assert node["type"] == "object", path
            assert "additionalProperties" not in node, path
            for required in node.get("required", []):
                assert required in node["properties"], f"{path}: required {required} unknown"


def test_every_spec_field_has_a_description_for_kubectl_explain() -> None:
    spec = openapi_schema()["properties"]["spec"]
    missing = [p for p, n in walk(spec, ".spec") if p.count(".") and not n.get("description")]
    missing = [p for p in missing if not p.endswith(("[]", "{}"))]
    assert missing == []


def test_list_maps_key_on_required_fields() -> None:
    for path, node in walk(openapi_schema()):
        if node.get("x-kubernetes-list-type") == "map":
            for key in node["x-kubernetes-list-map-keys"]:
                assert key in node["items"].get("required", []), f"{path}: {key}"


def test_strings_under_cel_rules_are_bounded() -> None:
    # The API server estimates CEL cost from maxLength/maxItems/maxProperties; unbounded
    # strings and lists under a rule can push a rule over the cost limit at CRD creation.
    spec = openapi_schema()["properties"]["spec"]
    for path, node in walk(spec, ".spec"):
        if node.get("type") == "string" and "enum" not in node:
            assert "maxLength" in node, f"{path}: string without maxLength"
        if node.get("type") == "array":
            assert "maxItems" in node, f"{path}: list without maxItems"
        if isinstance(node.get("additionalProperties"), dict):
            assert "maxProperties" in node, f"{path}: map without maxProperties"


def test_every_rule_has_a_message() -> None:
    for path, node in walk(openapi_schema()):
        for rule in node.get("x-kubernetes-validations", []):
            assert rule["message"] and rule["rule"], path


def test_transition_rules_make_sections_immutable() -> None:
    spec = openapi_schema()["properties"]["spec"]
    rules = " ".join(r["rule"] for r in spec["x-kubernetes-validations"])
    for section in ("environment", "dataset", "load", "analysis"):
        assert f"self.{section} == oldSelf.{section}" in rules
    assert "oldSelf.ttl" not in rules  # ttl may be extended while a run goes on
    assert "!oldSelf.abort || self.abort" in rules


def test_crd_file_is_one_yaml_document() -> None:
    docs = list(yaml.safe_load_all(CRD_FILE.read_text()))
    assert len(docs) == 1
    assert docs[0]["kind"] == "CustomResourceDefinition"
