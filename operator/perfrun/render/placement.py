"""What the cluster admin sets on every pod of every run: where the pods may run (a
nodeSelector and tolerations) and the registry credentials they pull with. Operator settings,
not spec: a PerfRun author chooses neither the nodes nor the credentials."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

TOLERATION_KEYS = {"key", "operator", "value", "effect", "tolerationSeconds"}
TOLERATION_OPERATORS = {"Equal", "Exists"}
TOLERATION_EFFECTS = {"NoSchedule", "PreferNoSchedule", "NoExecute"}


@dataclass(frozen=True)
class PullSecret:
    """A registry credential the operator was given (a Secret mounted into its pod), copied
    into each run's namespace under the same name, since a pod can only name Secrets of its
    own namespace."""

    name: str
    docker_config_json: str


@dataclass(frozen=True)
class Placement:
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()
    pull_secrets: tuple[PullSecret, ...] = ()

    def pod_spec_fields(self) -> dict[str, Any]:
        """The fields every pod spec of the run gets (none when nothing is set)."""
        out: dict[str, Any] = {}
        if self.node_selector:
            out["nodeSelector"] = dict(self.node_selector)
        if self.tolerations:
            out["tolerations"] = [dict(t) for t in self.tolerations]
        if self.pull_secrets:
            out["imagePullSecrets"] = [{"name": s.name} for s in self.pull_secrets]
        return out


def _json(text: str, variable: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{variable}: not JSON ({exc.msg} at character {exc.pos})") from None


def parse_node_selector(text: str, variable: str = "PERFRUN_NODE_SELECTOR") -> dict[str, str]:
    if not text.strip():
        return {}
    value = _json(text, variable)
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError(f'{variable}: must be a JSON object of label to value, e.g. {{"a": "b"}}')
    return value


def parse_tolerations(
    text: str, variable: str = "PERFRUN_TOLERATIONS"
) -> tuple[dict[str, Any], ...]:
    if not text.strip():
        return ()
    value = _json(text, variable)
    if not isinstance(value, list):
        raise ValueError(f"{variable}: must be a JSON list of tolerations")
    for i, item in enumerate(value):
        where = f"{variable}[{i}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: must be an object")
        unknown = set(item) - TOLERATION_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown field {sorted(unknown)[0]!r}")
        for key in ("key", "value"):
            if key in item and not isinstance(item[key], str):
                raise ValueError(f"{where}.{key}: must be a string")
        if item.get("operator", "Equal") not in TOLERATION_OPERATORS:
            raise ValueError(f"{where}.operator: must be Equal or Exists")
        if "effect" in item and item["effect"] not in TOLERATION_EFFECTS:
            raise ValueError(f"{where}.effect: must be one of {sorted(TOLERATION_EFFECTS)}")
        seconds = item.get("tolerationSeconds")
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int)):
            raise ValueError(f"{where}.tolerationSeconds: must be an integer")
    return tuple(value)


def parse_pull_secret_names(text: str, variable: str = "PERFRUN_IMAGE_PULL_SECRETS") -> list[str]:
    """Comma-separated Secret names (DNS subdomains)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        ok = len(name) <= 253 and all((c.isalnum() and c.islower()) or c in "-." for c in name)
        if not ok or not name[0].isalnum() or not name[-1].isalnum():
            raise ValueError(f"{variable}: {name!r} is not a Secret name")
    return names
