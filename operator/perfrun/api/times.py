"""Instants as the API writes them: RFC 3339 in UTC to the second (``2026-01-01T00:00:00Z``),
the form of every status timestamp; and reading an instant a person or a pod wrote."""

from __future__ import annotations

from datetime import UTC, datetime

RFC3339 = "%Y-%m-%dT%H:%M:%SZ"


def rfc3339(moment: datetime) -> str:
    """``moment`` in UTC, to the second, with ``Z``."""
    return moment.astimezone(UTC).strftime(RFC3339)


def parse_time(text: str) -> datetime:
    """A status timestamp (exactly the :func:`rfc3339` form) as an aware datetime."""
    return datetime.strptime(text, RFC3339).replace(tzinfo=UTC)


def instant(text: str) -> float:
    """Unix seconds from Unix seconds or RFC 3339 / ISO 8601 (``Z`` or an offset; none is
    UTC); ValueError naming the text otherwise."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither Unix seconds nor RFC 3339") from None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()
