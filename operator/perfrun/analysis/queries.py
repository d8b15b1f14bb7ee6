"""Prometheus I/O: instant and range queries with a timeout and transport retries, every
failure turned into one :class:`QueryError` (never a crash), and a fetcher that counts errors
per gate against its ``failureLimit``."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Protocol

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from perfrun.analysis.model import Series

RETRY_ON_STATUS = (429, 500, 502, 503, 504)


class QueryError(Exception):
    """A query that failed after its retries (unreachable, timed out, refused, bad PromQL)."""


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector."""

    labels: dict[str, str]
    value: float


class PromApi(Protocol):
    """What the analysis needs from Prometheus; tests may pass a fake."""

    def ping(self) -> None: ...

    def instant(self, query: str, at: float) -> list[Sample]: ...

    def range(self, query: str, start: float, end: float, step: float) -> list[Series]: ...


def _float(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


@dataclass(frozen=True)
class Connection:
    """How to reach a Prometheus: its base URL (queries go to ``<url>/api/v1/...``) plus, when
    it sits behind an authenticating front (the Kubernetes API server's service proxy), the TLS
    and credentials to use. Headers and key paths stay out of ``repr`` and of every message."""

    url: str
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    verify: bool | str = True  # False, True (system CAs) or a CA bundle path
    client_cert: tuple[str, str] | None = field(default=None, repr=False)  # (cert, key) paths
    proxies: dict[str, str] = field(default_factory=dict)
    via: str = ""  # how it is reached, for messages, e.g. "through the API server"
    trust_env: bool = True  # honour HTTP(S)_PROXY, NO_PROXY, .netrc from the environment

    def session(self) -> requests.Session:
        s = requests.Session()
        s.trust_env = self.trust_env
        s.verify = self.verify
        s.cert = self.client_cert
        s.headers.update(self.headers)
        s.proxies.update(self.proxies)
        # a redirect would take the operator's request (and its credentials) somewhere the
        # spec and the admin's allowlist never named
        s.max_redirects = 0
        return s


class PrometheusClient:
    """prometheus-api-client with a timeout and urllib3 retries (connect, read, 5xx, 429)."""

    def __init__(self, target: str | Connection, timeout_s: float = 10.0, retries: int = 3) -> None:
        conn = target if isinstance(target, Connection) else Connection(url=target)
        self.url = conn.url.rstrip("/")
        self.where = f"{self.url} ({conn.via})" if conn.via else self.url
        self.timeout_s = timeout_s
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=0.2,
            backoff_max=2.0,
            status_forcelist=RETRY_ON_STATUS,
            allowed_methods=None,
            raise_on_status=False,
        )
        self._session = conn.session()
        self._conn = PrometheusConnect(
            url=self.url,
            retry=retry,
            timeout=timeout_s,
            session=self._session,
        )

    def close(self) -> None:
        self._conn.close()

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PrometheusApiClientException as exc:
            # the exception carries the response body: only its status code is reported
            raise QueryError(f"{what}: Prometheus refused: {_refusal(exc)}") from exc
        except requests.exceptions.TooManyRedirects as exc:
            raise QueryError(
                f"{what}: Prometheus at {self.where} answered with a redirect, not followed"
            ) from exc
        except requests.exceptions.Timeout as exc:
            raise QueryError(f"{what}: timed out after {self.timeout_s:g}s") from exc
        except requests.exceptions.RequestException as exc:
            raise QueryError(
                f"{what}: Prometheus at {self.where} unreachable: {_short(exc)}"
            ) from exc
        except (ValueError, KeyError, TypeError) as exc:  # not JSON, or not Prometheus' shape
            raise QueryError(
                f"{what}: unexpected answer ({type(exc).__name__}: not Prometheus' JSON)"
            ) from exc

    def ping(self) -> None:
        """GET /-/ready: cheap, needs no query, and answers 200 without a redirect (``/``
        redirects, which a proxy in front may not follow)."""

        def ready() -> requests.Response:
            return self._session.get(f"{self.url}/-/ready", timeout=self.timeout_s)

        response = self._call("ping", ready)
        if not response.ok:  # its body is the server's, not ours to show: the code only
            raise QueryError(
                f"ping: Prometheus at {self.where} answered {response.status_code} "
                f"{_status_words(response.status_code)}"
            )

    def instant(self, query: str, at: float) -> list[Sample]:
        params = {"time": f"{at:.3f}"}
        data = self._call(query, self._conn.custom_query, query, params=params)
        return [
            Sample(dict(item.get("metric", {})), _float(item.get("value", [0, "NaN"])[1]))
            for item in data
        ]

    def range(self, query: str, start: float, end: float, step: float) -> list[Series]:
        data = self._call(
            query,
            self._conn.custom_query_range,
            query,
            start_time=datetime.fromtimestamp(start, UTC),
            end_time=datetime.fromtimestamp(end, UTC),
            step=f"{max(step, 0.001):g}s",
        )
        out = []
        for item in data:
            points = [(float(t), _float(v)) for t, v in item.get("values", [])]
            out.append(Series(metric="", labels=dict(item.get("metric", {})), points=points))
        return out


def _status_words(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "(unknown status)"


_STATUS_IN_MESSAGE = re.compile(r"HTTP Status Code (\d{3})")


def _refusal(exc: BaseException) -> str:
    """An HTTP refusal as its status code and standard phrase, never the body it came with."""
    found = _STATUS_IN_MESSAGE.search(str(exc))
    if found is None:
        return "an error answer (body not shown)"
    code = int(found.group(1))
    return f"HTTP {code} {_status_words(code)}"


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


@dataclass
class Fetcher:
    """Memoised queries with per-caller error counting.

    A gate asks through ``instant``/``range`` with its ``attempts`` (failureLimit + 1): each
    failed attempt is one counted error; an answer is cached so gates sharing a query ask once.
    Once Prometheus is known to be down (``down``), nothing is asked again: every call fails at
    once with that reason, so a dead Prometheus costs one round of retries, not one per gate.
    """

    api: PromApi | None
    down: str | None = None
    errors: list[str] = field(default_factory=list)
    _cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    def ping(self) -> None:
        if self.api is None:
            self.down = "no Prometheus URL given"
            return
        try:
            self.api.ping()
        except QueryError as exc:
            self.down = str(exc)
            self.errors.append(self.down)

    def _ask(self, key: tuple[Any, ...], attempts: int, call: Any) -> tuple[Any, int, str]:
        if key in self._cache:
            return self._cache[key], 0, ""
        if self.down is not None or self.api is None:
            return None, max(attempts, 1), self.down or "no Prometheus"
        failed, last = 0, ""
        for _ in range(max(attempts, 1)):
            try:
                value = call()
            except QueryError as exc:
                failed, last = failed + 1, str(exc)
                self.errors.append(last)
                continue
            self._cache[key] = value
            return value, failed, last
        return None, failed, last

    def instant(
        self, query: str, at: float, attempts: int = 1
    ) -> tuple[list[Sample] | None, int, str]:
        """(samples or None, errors, last error)."""
        api = self.api
        return self._ask(("i", query, at), attempts, lambda: api.instant(query, at) if api else [])

    def range(
        self, query: str, start: float, end: float, step: float, attempts: int = 1
    ) -> tuple[list[Series] | None, int, str]:
        api = self.api
        return self._ask(
            ("r", query, start, end, step),
            attempts,
            lambda: api.range(query, start, end, step) if api else [],
        )


def scalar(samples: list[Sample] | None) -> float | None:
    """The value of a one-element vector; None when empty, NaN or ambiguous (never 0)."""
    if not samples:
        return None
    values = [s.value for s in samples if not math.isnan(s.value) and not math.isinf(s.value)]
    if len(values) != 1:
        return None
    return values[0]


def clean_points(series: list[Series] | None) -> list[tuple[float, float]]:
    """Points of a single-series result, NaN/Inf dropped; several series are summed per t."""
    if not series:
        return []
    by_t: dict[float, float] = {}
    for s in series:
        for t, v in s.points:
            if math.isfinite(v):
                by_t[t] = by_t.get(t, 0.0) + v
    return sorted(by_t.items())
