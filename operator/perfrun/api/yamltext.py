"""YAML text of a document, written by libyaml's emitter when PyYAML has it.

The renderers write YAML into ConfigMaps (Prometheus' configuration, each Job's spec
section): with PyYAML's pure-Python emitter that was 83 % of a run's first reconcile (36 of
43 ms, and 200 runs starting at once queue on the operator's one interpreter lock; issue
18). libyaml writes the same document ~10x faster (the same text for what we render; in
form only it differs at corners, an empty key); PyYAML's wheels carry it, and where it is
missing the Python emitter is used."""

from __future__ import annotations

from typing import Any

import yaml

_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump(doc: Any) -> str:
    """``doc`` as block YAML, keys in their given order (a person reads these)."""
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False)
