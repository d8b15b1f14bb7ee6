"""json_copy: equal to the document, sharing no dict or list with it."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from perfrun.api.jsoncopy import json_copy

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


def _containers(node: Any) -> list[Any]:
    found = [node] if isinstance(node, dict | list) else []
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        found += _containers(child)
    return found


@given(JSON)
def test_the_copy_equals_the_document_and_shares_no_container(doc: Any) -> None:
    copied = json_copy(doc)
    assert copied == doc == copy.deepcopy(doc)
    originals = {id(c) for c in _containers(doc)}
    assert not originals & {id(c) for c in _containers(copied)}


def test_changing_the_copy_leaves_the_document_as_it_was() -> None:
    doc = {"metadata": {"labels": {"a": "1"}}, "spec": {"containers": [{"name": "x"}]}}
    copied = json_copy(doc)
    copied["metadata"]["labels"]["b"] = "2"
    copied["spec"]["containers"][0]["name"] = "y"
    copied["spec"]["containers"].append({})
    assert doc == {"metadata": {"labels": {"a": "1"}}, "spec": {"containers": [{"name": "x"}]}}
