"""Scenario templates: pick a scenario by weight, fill ``{account}``, ``{uuid}`` and ``{seq}``
into its path and body. Compiled once so the hot path is a few string joins."""

from __future__ import annotations

import bisect
import itertools
import json
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from perfrun.api.load import AccountIds, LoadSpec, Scenario

_PLACEHOLDER = re.compile(r"\{(account|uuid|seq)\}")
# Zipf over more ids than this uses the continuous inverse CDF instead of a table.
_ZIPF_TABLE_MAX = 200_000
# What a path may hold as it is (RFC 3986 pchar, '/', '?', and '%' of existing escapes);
# anything else in a path template's literal text is percent-encoded once, at compile time.
_PATH_SAFE = "/?=&%:@!$'()*+,;~-._[]"


class TemplateError(ValueError):
    """A template that cannot be filled (names the field)."""


@dataclass(frozen=True)
class Values:
    """The values for one request; uuid is made only if a template uses it."""

    account: int | None
    seq: int


class AccountPicker:
    """Draws account ids uniformly or Zipf-skewed (rank 1 = ``min`` = the biggest whale)."""

    def __init__(self, ids: AccountIds, rng: random.Random) -> None:
        self.min, self.max = ids.min, ids.max
        self.n = ids.max - ids.min + 1
        self.rng = rng
        self.zipf = ids.distribution == "zipf"
        self.s = ids.exponent
        self._cdf: list[float] | None = None
        if self.zipf and self.n <= _ZIPF_TABLE_MAX:
            weights = [1.0 / (k**self.s) for k in range(1, self.n + 1)]
            self._cdf = list(itertools.accumulate(weights))

    def pick(self) -> int:
        if not self.zipf:
            return self.rng.randint(self.min, self.max)
        u = self.rng.random()
        if self._cdf is not None:
            rank = bisect.bisect_left(self._cdf, u * self._cdf[-1])
            return self.min + min(rank, self.n - 1)
        return self.min + self._continuous_rank(u) - 1

    def _continuous_rank(self, u: float) -> int:
        # Inverse CDF of a power law on [1, n + 1): rank = floor(x).
        n1, s = self.n + 1.0, self.s
        if abs(s - 1.0) < 1e-9:
            x = n1**u
        else:
            a = 1.0 - s
            x = (1.0 + u * (n1**a - 1.0)) ** (1.0 / a)
        return max(1, min(self.n, int(x)))


def _string_filler(
    text: str, field: str, literal: Callable[[str], str] | None = None
) -> Callable[[Values], str]:
    parts = _PLACEHOLDER.split(text)
    if literal is not None:
        parts[0::2] = [literal(p) for p in parts[0::2]]
    if len(parts) == 1:
        fixed = parts[0]
        return lambda _v: fixed
    literals = parts[0::2]
    names = parts[1::2]

    def fill(v: Values) -> str:
        out = [literals[0]]
        for name, lit in zip(names, literals[1:], strict=True):
            out.append(_value(name, v, field))
            out.append(lit)
        return "".join(out)

    return fill


def _value(name: str, v: Values, field: str) -> str:
    if name == "seq":
        return str(v.seq)
    if name == "uuid":
        return str(uuid.uuid4())
    if v.account is None:
        raise TemplateError(f"{field}: uses {{account}} but load.accounts is not set")
    return str(v.account)


def _body_filler(node: Any, field: str) -> Callable[[Values], Any]:
    if isinstance(node, str):
        if node == "{account}":
            return lambda v: v.account
        if node == "{seq}":
            return lambda v: v.seq
        return _string_filler(node, field)
    if isinstance(node, dict):
        items = [(k, _body_filler(val, f"{field}.{k}")) for k, val in node.items()]
        return lambda v: {k: f(v) for k, f in items}
    if isinstance(node, list):
        elems = [_body_filler(x, f"{field}[{i}]") for i, x in enumerate(node)]
        return lambda v: [f(v) for f in elems]
    return lambda _v: node


def _check_header(name: str, value: str, field: str) -> None:
    """Headers go into the request as they are: refuse what would break its framing."""
    if not name.isascii() or not name or any(c in name for c in " \t\r\n:"):
        raise TemplateError(f"{field}: {name!r} is not a valid header name")
    if "\r" in value or "\n" in value:
        raise TemplateError(f"{field}.{name}: a header value cannot contain a line break")


def _quote_path(text: str) -> str:
    return quote(text, safe=_PATH_SAFE)


def _uses(node: Any, name: str) -> bool:
    return name in json.dumps(node) if node is not None else False


@dataclass(frozen=True)
class CompiledScenario:
    """A scenario ready to fill: ``render_path`` and ``render_body`` give the path (its
    literal text percent-encoded where needed) and the body bytes (or None). ``fixed``: neither
    uses a placeholder, so every request of the scenario is the same."""

    index: int
    spec: Scenario
    name: str
    method: str
    headers: dict[str, str]
    expect: frozenset[int]
    uses_account: bool
    render_path: Callable[[Values], str]
    render_body: Callable[[Values], bytes | None]
    fixed: bool = False
    creates: bool = False

    def ok(self, status: int) -> bool:
        return status in self.expect if self.expect else 200 <= status < 400


def compile_scenarios(spec: LoadSpec) -> list[CompiledScenario]:
    """Compile every scenario; raises TemplateError naming the field when one can't work."""
    out: list[CompiledScenario] = []
    for i, sc in enumerate(spec.scenarios):
        field = f"scenarios[{i}]"
        uses_account = "{account}" in sc.path or _uses(sc.body, "{account}")
        if uses_account and spec.accounts is None:
            where = "path" if "{account}" in sc.path else "body"
            raise TemplateError(f"{field}.{where}: uses {{account}} but load.accounts is not set")
        headers = dict(sc.headers)
        for name, value in headers.items():
            _check_header(name, value, f"{field}.headers")
        body_fill: Callable[[Values], bytes | None]
        is_fixed = _PLACEHOLDER.search(sc.path) is None
        if sc.body is None:
            body_fill = _no_body
        elif isinstance(sc.body, str):
            is_fixed = is_fixed and _PLACEHOLDER.search(sc.body) is None
            text_fill = _string_filler(sc.body, f"{field}.body")
            body_fill = _encode_text(text_fill)
        else:
            # a placeholder, not any "{" (a JSON object always has one)
            body_fixed = _PLACEHOLDER.search(json.dumps(sc.body)) is None
            is_fixed = is_fixed and body_fixed
            if body_fixed:
                fixed = json.dumps(sc.body, separators=(",", ":")).encode()
                body_fill = _fixed(fixed)
            else:
                body_fill = _encode_json(_body_filler(sc.body, f"{field}.body"))
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"
        out.append(
            CompiledScenario(
                index=i,
                spec=sc,
                name=sc.name,
                method=sc.method,
                headers=headers,
                expect=frozenset(sc.expect_status),
                uses_account=uses_account,
                render_path=_string_filler(sc.path, f"{field}.path", _quote_path),
                render_body=body_fill,
                fixed=is_fixed,
                creates=bool(sc.creates_accounts or sc.creates_rows),
            )
        )
    return out


def _no_body(_v: Values) -> bytes | None:
    return None


def _fixed(data: bytes) -> Callable[[Values], bytes | None]:
    return lambda _v: data


def _encode_text(fill: Callable[[Values], str]) -> Callable[[Values], bytes | None]:
    return lambda v: fill(v).encode()


def _encode_json(fill: Callable[[Values], Any]) -> Callable[[Values], bytes | None]:
    return lambda v: json.dumps(fill(v), separators=(",", ":")).encode()


class ScenarioPicker:
    """Weighted choice of scenarios; ``pick(allowed)`` can exclude ones that would create data
    past the creation budget, falling back to the weights of the rest."""

    def __init__(self, scenarios: list[CompiledScenario], rng: random.Random) -> None:
        self.scenarios = scenarios
        self.rng = rng
        self._cum = list(itertools.accumulate(s.spec.weight for s in scenarios))
        self._non_creating = [
            s for s in scenarios if not (s.spec.creates_accounts or s.spec.creates_rows)
        ]
        self._non_creating_cum = list(
            itertools.accumulate(s.spec.weight for s in self._non_creating)
        )

    def pick(self) -> CompiledScenario:
        if len(self.scenarios) == 1:
            return self.scenarios[0]
        x = self.rng.random() * self._cum[-1]
        return self.scenarios[bisect.bisect_right(self._cum, x)]

    def pick_non_creating(self) -> CompiledScenario | None:
        """A scenario that creates nothing, by weight; None if every scenario creates."""
        if not self._non_creating:
            return None
        x = self.rng.random() * self._non_creating_cum[-1]
        return self._non_creating[bisect.bisect_right(self._non_creating_cum, x)]
