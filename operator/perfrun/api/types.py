"""Scalar types of the PerfRun API: durations, quantities, names, thresholds.

Each is a plain string (or int) on the wire with a pattern the CRD carries too, plus pure
helpers that turn it into numbers for the code that acts on it."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

# Kubernetes' own resource.Quantity grammar (apimachinery/pkg/api/resource).
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_QUANTITY_SUFFIX = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
# What an author may write: no sign (negative sizes and CPU make no sense anywhere in a run;
# the API server refuses them only when it meets the rendered object, too late).
UNSIGNED_QUANTITY_PATTERN = QUANTITY_PATTERN.replace(r"^(\+|-)?", "^", 1)
# Control characters (C0 and DEL): a newline in a value that is written into a config file or
# passed on a command line adds a line or an argument the author was not meant to control.
NO_CONTROL_PATTERN = r"^[^\x00-\x1f\x7f]*$"
# A key of a component's settings: postgresql.conf parameters, redis.conf directives and
# rabbitmq.conf keys are all of this shape (shared_buffers, maxmemory-policy,
# vm_memory_high_watermark.relative).
SETTINGS_KEY_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]*$"
SETTINGS_KEY_MAX = 128
# An HTTP header name (RFC 9110 token).
HEADER_NAME_PATTERN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
HEADER_NAME_MAX = 256
_QUANTITY_SPLIT = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9.]+)?)([numkMGTPE]i?|Ki)?$")

DNS_LABEL_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
SQL_IDENT_PATTERN = r"^[a-z_][a-z0-9_]*$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# A container image reference: [registry[:port]/]path[:tag][@sha256:digest], lowercase path.
IMAGE_PATTERN = (
    r"^([a-zA-Z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$"
)
PERCENT_PATTERN = r"^[0-9]+(\.[0-9]+)?%$"
# A gate threshold: a number ("0.01", "5"), a duration ("300ms") or a percentage ("1%").
THRESHOLD_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|%)?)+$"
# The authority of an http(s) URL: a host name, an IPv4 address or a bracketed IPv6 one, and
# at most a port of 0..65535 -- so every URL the schema admits has a port urllib can read.
_URL_HOST = r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_-][A-Za-z0-9_.-]*)"
_URL_PORT = (
    r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0))?"
)
HTTP_URL_PATTERN = (
    rf"^https?://([^\s/?#@\x00-\x1f\x7f]+@)?{_URL_HOST}{_URL_PORT}([/?#][^\s\x00-\x1f\x7f]*)?$"
)
# A base URL the operator or its pods append paths to: no query, fragment or userinfo (a `?`
# or `#` would cancel the appended path, an `@` hides the real host behind a fake one).
BASE_URL_PATTERN = rf"^https?://{_URL_HOST}{_URL_PORT}(/[^\s?#@\x00-\x1f\x7f]*)?$"
CIDR_PATTERN = r"^(([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}|[0-9a-fA-F:]+/[0-9]{1,3})$"


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``300ms``, ``2m`` or ``1h30m`` (Go's syntax, no ``d``)."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"{text!r} is not a duration like 300ms, 2m or 1h30m")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))


def format_duration(seconds: float) -> str:
    """The shortest duration string for a number of seconds (inverse of ``parse_duration``)."""
    ms = round(seconds * 1000)
    if ms % 1000:
        return f"{ms}ms"
    s = ms // 1000
    hours, rest = divmod(s, 3600)
    minutes, secs = divmod(rest, 60)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    out += f"{secs}s" if secs or not out else ""
    return out


def parse_quantity(text: str) -> Decimal:
    """The value of a Kubernetes quantity (``20Gi`` -> 21474836480, ``500m`` -> 0.5)."""
    if not re.fullmatch(QUANTITY_PATTERN, text):
        raise ValueError(f"{text!r} is not a Kubernetes quantity like 500m, 2, 512Mi or 20Gi")
    m = _QUANTITY_SPLIT.match(text)
    if m is None:  # exponent form such as 1e3
        return Decimal(text)
    number, suffix = m.group(1), m.group(2) or ""
    return Decimal(number) * _QUANTITY_SUFFIX[suffix]


def parse_threshold(value: int | str) -> float:
    """A gate threshold in the gate metric's unit: durations become milliseconds,
    percentages become ratios (``1%`` -> 0.01), numbers stay numbers."""
    if isinstance(value, int):
        return float(value)
    if value.endswith("%"):
        return float(value[:-1]) / 100.0
    if re.fullmatch(DURATION_PATTERN, value):
        return parse_duration(value) * 1000.0
    return float(value)


def _check_duration(text: str) -> str:
    parse_duration(text)
    return text


def _check_threshold(value: int | str) -> int | str:
    if isinstance(value, str):
        if value.endswith("%"):
            if not re.fullmatch(PERCENT_PATTERN, value):
                raise ValueError(f"{value!r} is not a percentage like 10%")
        elif not re.fullmatch(r"^[0-9]+(\.[0-9]+)?$", value):
            parse_duration(value)
    return value


def matches(pattern: str, what: str) -> AfterValidator:
    """Check a string against ``pattern`` and say in words what was expected: the CRD carries
    the regex, people reading ``perfrun validate`` output should not have to."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


def _pattern(pattern: str) -> Any:
    return Field(json_schema_extra={"pattern": pattern})


Duration = Annotated[
    str,
    StringConstraints(max_length=32),
    _pattern(DURATION_PATTERN),
    AfterValidator(_check_duration),
]


def _check_positive_duration(text: str) -> str:
    if parse_duration(text) <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return text


# A time a run waits for something or measures over: zero makes no sense (a timeout that
# always fires, a window with no samples, a deadline already passed).
PositiveDuration = Annotated[
    str,
    StringConstraints(max_length=32),
    Field(
        json_schema_extra={
            "pattern": DURATION_PATTERN,
            "x-kubernetes-validations": [
                {"rule": "duration(self) > duration('0s')", "message": "must be longer than zero"}
            ],
        }
    ),
    AfterValidator(_check_duration),
    AfterValidator(_check_positive_duration),
]


_POSITIVE_QUANTITY = "a positive Kubernetes quantity like 500m, 2, 512Mi or 20Gi"


def _check_positive(text: str) -> str:
    if parse_quantity(text) <= 0:
        raise ValueError(f"{text!r} must be greater than zero")
    return text


Quantity = Annotated[
    str,
    StringConstraints(max_length=32),
    Field(
        json_schema_extra={
            "pattern": UNSIGNED_QUANTITY_PATTERN,
            "x-kubernetes-validations": [
                {
                    "rule": "quantity(self).isGreaterThan(quantity('0'))",
                    "message": "must be greater than zero",
                }
            ],
        }
    ),
    matches(
        UNSIGNED_QUANTITY_PATTERN, "a positive Kubernetes quantity like 500m, 2, 512Mi or 20Gi"
    ),
    AfterValidator(_check_positive),
]
Percent = Annotated[
    str,
    StringConstraints(max_length=16),
    _pattern(PERCENT_PATTERN),
    matches(PERCENT_PATTERN, "a percentage like 10%"),
]
DnsLabel = Annotated[
    str,
    StringConstraints(max_length=40),
    _pattern(DNS_LABEL_PATTERN),
    matches(DNS_LABEL_PATTERN, "a DNS label (lowercase letters, digits, '-'; a letter first)"),
]
SqlIdent = Annotated[
    str,
    StringConstraints(max_length=63),
    _pattern(SQL_IDENT_PATTERN),
    matches(SQL_IDENT_PATTERN, "an SQL identifier (lowercase letters, digits, '_')"),
]
EnvName = Annotated[
    str,
    StringConstraints(max_length=128),
    _pattern(ENV_NAME_PATTERN),
    matches(ENV_NAME_PATTERN, "an environment variable name"),
]
ImageRef = Annotated[
    str,
    StringConstraints(max_length=512),
    _pattern(IMAGE_PATTERN),
    matches(IMAGE_PATTERN, "an image reference like registry.example/repo:tag"),
]
BaseUrl = Annotated[
    str,
    StringConstraints(max_length=2048),
    _pattern(BASE_URL_PATTERN),
    matches(BASE_URL_PATTERN, "an http(s) base URL like http://api:8080 (no ?, # or @)"),
]
HttpUrl = Annotated[
    str,
    StringConstraints(max_length=2048),
    _pattern(HTTP_URL_PATTERN),
    matches(HTTP_URL_PATTERN, "an http(s) URL like http://api:8080"),
]
Cidr = Annotated[
    str,
    StringConstraints(max_length=64),
    _pattern(CIDR_PATTERN),
    matches(CIDR_PATTERN, "a CIDR like 10.0.0.0/16"),
]
ShortText = Annotated[
    str,
    StringConstraints(max_length=1024),
    _pattern(NO_CONTROL_PATTERN),
    matches(NO_CONTROL_PATTERN, "text without control characters (newline, tab, NUL, ...)"),
]


def keys_rule_cel(field: str, pattern: str, longest: int) -> str:
    """A CEL rule: every key of the map ``field`` is at most ``longest`` and matches."""
    return f'self.{field}.all(k, size(k) <= {longest} && k.matches(r"{pattern}"))'


def keys_match(keys: object, pattern: str, longest: int) -> bool:
    compiled = re.compile(pattern)
    return all(len(k) <= longest and compiled.fullmatch(k) for k in keys)  # type: ignore[attr-defined]


def _threshold_kind(value: object) -> object:
    # Kubernetes' int-or-string refuses 0.01 unquoted; say so here too, in one clear line.
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(
            f"{value!r} must be an integer or a quoted string such as '0.01', '300ms' or '1%'"
        )
    return value


Threshold = Annotated[
    int | str,
    Field(json_schema_extra={"x-kubernetes-int-or-string": True, "pattern": THRESHOLD_PATTERN}),
    BeforeValidator(_threshold_kind),
    AfterValidator(_check_threshold),
]
Port = Annotated[int, Field(ge=1, le=65535)]
StatusCode = Annotated[int, Field(ge=100, le=599)]
