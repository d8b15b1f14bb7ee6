"""The YAML the renderers write reads back as the document written, by either of PyYAML's
readers (issue 18: libyaml's emitter is used for speed; its text differs from PyYAML's own
only in form, at corners: an empty key, where a long escaped string is folded)."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from perfrun.api import yamltext

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False)
    | st.text()
)
_docs = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), _docs, max_size=6))
def test_the_text_reads_back_as_written(doc: dict[str, Any]) -> None:
    text = yamltext.dump(doc)
    assert yaml.load(text, Loader=yaml.SafeLoader) == doc
    assert yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) == doc


def test_keys_keep_their_order() -> None:
    assert yamltext.dump({"b": 1, "a": {"z": [1, "x"], "c": None}}) == (
        "b: 1\na:\n  z:\n  - 1\n  - x\n  c: null\n"
    )
