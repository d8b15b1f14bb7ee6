"""Hand a finished load window to the analysis and turn its result into status fields.

Around the pure analysis (``perfrun.analysis.run.analyze``) this is the I/O of the ANALYZE
step: the load summaries, the PerfBaseline the spec names, the way to the Prometheus (direct
when the operator runs in the cluster, through the API server's service proxy when it runs
outside with a kubeconfig), then the report ConfigMap and, for a Passed run with
``baseline.promoteAs``, the promoted PerfBaseline."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from pydantic import ValidationError

from perfrun.analysis import bounded
from perfrun.analysis.model import AnalysisResult, Window
from perfrun.analysis.queries import Connection
from perfrun.analysis.run import analyze
from perfrun.analysis.summaries import LoadSummary, SummaryError, parse_summary
from perfrun.api.baseline import BaselineValues
from perfrun.api.perfrun import API_VERSION, KIND, PerfRun
from perfrun.api.policy import AdminPolicy, prometheus_url_allowed
from perfrun.api.status import PerfRunStatus, Verdict
from perfrun.api.times import parse_time, rfc3339
from perfrun.controller.refusal import api_message
from perfrun.kube.baselines import promote_results, read_baseline
from perfrun.kube.client import Kube
from perfrun.kube.errors import KindNotServedError, KubeError
from perfrun.kube.proxy import ProxyRoute
from perfrun.kube.reports import write_report
from perfrun.render import jobs as render_jobs
from perfrun.render import prometheus as render_prometheus
from perfrun.render.context import RunContext

log = logging.getLogger(__name__)
SUMMARY_CONFIGMAP = render_jobs.LOAD_SUMMARY_CONFIGMAP
# Set in every pod by the kubelet: the operator runs in the cluster and resolves Service names.
IN_CLUSTER_ENV = "KUBERNETES_SERVICE_HOST"
VIA_API_SERVER = "through the Kubernetes API server's service proxy"
# Authentication and authorisation problems do not go away by retrying: they are reported.
_PERMANENT_API_STATUSES = frozenset({401, 403})


# -- where Prometheus is ------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceRef:
    """A Prometheus behind a Kubernetes Service: ``<scheme>://<name>.<namespace>.svc:<port>``."""

    namespace: str
    name: str
    port: int
    scheme: str = "http"
    path: str = ""  # a path prefix in front of /api/v1 (e.g. Prometheus' --web.route-prefix)

    @property
    def dns_url(self) -> str:
        return f"{self.scheme}://{self.name}.{self.namespace}.svc:{self.port}{self.path}"

    @property
    def proxy_path(self) -> str:
        """The API server path proxying to this Service (``https:`` named when TLS)."""
        scheme = "https:" if self.scheme == "https" else ""
        return (
            f"/api/v1/namespaces/{quote(self.namespace)}/services/"
            f"{scheme}{quote(self.name)}:{self.port}/proxy{self.path}"
        )


def prometheus_service(run: PerfRun, ctx: RunContext) -> ServiceRef | None:
    """The Service in front of the run's Prometheus: the embedded one, or a ``spec.url`` that
    names a Service by its cluster DNS name (``<svc>.<ns>.svc[.cluster.local]``). None for
    any other URL (it is used as it is)."""
    source = run.spec.analysis.prometheus
    if source.url is None:
        return ServiceRef(ctx.namespace, render_prometheus.NAME, render_prometheus.PORT)
    parts = urlsplit(source.url)
    host = (parts.hostname or "").rstrip(".")
    scheme = parts.scheme or "http"
    port = parts.port or (443 if scheme == "https" else 80)
    if host and "." not in host:  # a bare Service name: the run's own namespace, never ours
        return ServiceRef(ctx.namespace, host, port, scheme, parts.path.rstrip("/"))
    for suffix in (".svc.cluster.local", ".svc"):
        if host.endswith(suffix):
            labels = host.removesuffix(suffix).split(".")
            if len(labels) == 2:
                return ServiceRef(labels[1], labels[0], port, scheme, parts.path.rstrip("/"))
    return None


def prometheus_url(run: PerfRun, ctx: RunContext) -> str | None:
    """The URL as seen from inside the cluster: the embedded Prometheus by its Service DNS
    name, or the external one from the spec."""
    source = run.spec.analysis.prometheus
    service = prometheus_service(run, ctx)
    if source.url and (service is None or service.namespace != ctx.namespace):
        return source.url
    return (
        service or ServiceRef(ctx.namespace, render_prometheus.NAME, render_prometheus.PORT)
    ).dns_url


def in_cluster(env: Mapping[str, str]) -> bool:
    return bool(env.get(IN_CLUSTER_ENV))


def proxied(route: ProxyRoute) -> Connection:
    """The Prometheus :class:`Connection` for a route through the API server's proxy."""
    return Connection(
        url=route.url,
        headers=route.headers,
        verify=route.verify,
        client_cert=route.client_cert,
        proxies=route.proxies,
        via=VIA_API_SERVER,
        trust_env=False,  # as the kubernetes client: only the kubeconfig's proxy, if any
    )


def prometheus_connection(
    run: PerfRun,
    ctx: RunContext,
    kube: Kube,
    env: Mapping[str, str] | None = None,
    policy: AdminPolicy | None = None,
) -> str | Connection | None:
    """How this operator reaches the run's Prometheus: in the cluster, by URL (the Service's
    DNS name for the embedded one); outside it (no ``KUBERNETES_SERVICE_HOST``: a laptop
    with a kubeconfig), a Service's cluster DNS name does not resolve, so such a Prometheus
    is reached through the API server's service proxy with the kubeconfig's credentials."""
    env = os.environ if env is None else env
    url = run.spec.analysis.prometheus.url
    if url and not prometheus_url_allowed(url, policy or AdminPolicy(), ctx.namespace):
        # never fetched for the author: not a Service of the run and not on the admin's list
        log.warning("run %s: Prometheus URL %s is not allowed by the policy", ctx.name, url)
        return None
    service = prometheus_service(run, ctx)
    if service is None or in_cluster(env):
        return prometheus_url(run, ctx)
    return proxied(kube.service_proxy(service.proxy_path))


# -- inputs: load summaries, baseline -------------------------------------------------------


def load_summaries(kube: Kube, ctx: RunContext) -> list[LoadSummary]:
    """The per-pod summaries the load Job wrote; unreadable ones are skipped (and logged):
    the analysis then falls back to Prometheus, or ends Inconclusive."""
    cm = kube.get("v1", "ConfigMap", SUMMARY_CONFIGMAP, ctx.namespace)
    out: list[LoadSummary] = []
    for key, text in sorted(((cm or {}).get("data") or {}).items()):
        try:
            out.append(parse_summary(json.loads(text), name=key))
        except (ValueError, SummaryError) as exc:
            log.warning("load summary %s unreadable: %s", key, exc)
    return out


def bootstrap_hint(name: str) -> str:
    return f"create it, or promote a run: perfrun baseline promote RUN --as {name} --force"


def read_spec_baseline(kube: Kube, run: PerfRun) -> tuple[BaselineValues | None, str | None]:
    """(values, None) for the PerfBaseline ``spec.analysis.baseline`` names, in the PerfRun's
    namespace; (None, why) when it is missing, unreadable or not allowed: the comparison is
    then Inconclusive with that reason. (None, None) when the spec names no baseline.
    Transient API errors raise, so the reconcile is retried."""
    ref = run.spec.analysis.baseline
    if ref is None or ref.name is None:
        return None, None
    namespace = str(run.metadata.get("namespace") or "default")
    where = f"PerfBaseline {ref.name} (namespace {namespace})"
    try:
        found = read_baseline(kube, ref.name, namespace)
    except KindNotServedError:
        return None, f"{where} not found: the PerfBaseline CRD is not installed"
    except KubeError as exc:
        if exc.status in _PERMANENT_API_STATUSES:
            return None, f"{where} unreadable: {exc.status} {exc.reason}"
        raise
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        return None, f"{where} is invalid: {field}: {first['msg']}"[:500]
    if found is None:
        return None, f"{where} not found ({bootstrap_hint(ref.name)})"
    return found.spec.values, None


# -- outputs: promotion, report, events ----------------------------------------------------


def _event(kube: Kube, run: PerfRun, type_: str, reason: str, message: str, now: str) -> None:
    involved = {"apiVersion": API_VERSION, "kind": KIND, "metadata": run.metadata}
    try:
        kube.event(involved, type_, reason, message, now)
    except (KubeError, KeyError) as exc:  # an event is news, not state: never fatal
        log.warning("event %s on %s not posted: %s", reason, run.metadata.get("name"), exc)


def promote_if_passed(kube: Kube, run: PerfRun, result: AnalysisResult, now: str) -> str | None:
    """Store a Passed run's results as PerfBaseline ``baseline.promoteAs`` (server-side apply,
    so a repeated analysis after a crash writes the same object). Returns a note for the
    status message, or None when there is nothing to promote. A failure is reported (event
    and note), not raised: the verdict stands without the promotion."""
    ref = run.spec.analysis.baseline
    if ref is None or ref.promote_as is None or result.verdict != Verdict.PASSED:
        return None
    name = ref.promote_as
    try:
        promote_results(kube, run.metadata, result.results, str(result.verdict), name, now)
    except KubeError as exc:
        note = f"not promoted as PerfBaseline {name}: {api_message(exc)}"[:300]
        _event(kube, run, "Warning", "BaselinePromotionFailed", note, now)
        return note
    note = f"promoted as PerfBaseline {name}"
    _event(kube, run, "Normal", "BaselinePromoted", note, now)
    return note


def store_report(
    kube: Kube, run: PerfRun, ctx: RunContext, result: AnalysisResult, now: datetime
) -> str | None:
    """The bounded report (JSON, Markdown, HTML) in ConfigMap ``perfrun-report-<name>`` beside
    the PerfRun, kept ``ctx.report_retention_s`` after now whatever becomes of the PerfRun;
    its name for status.report, or None when the API refused it (logged)."""
    files = bounded.report_files(result, str(run.metadata.get("name") or ctx.name))
    keep_until = rfc3339(now + timedelta(seconds=ctx.report_retention_s))
    try:
        return write_report(kube, {"metadata": run.metadata}, files, ctx.run_id, keep_until)
    except KubeError as exc:
        log.warning("report of %s not stored: %s %s", ctx.name, exc.status, exc.reason)
        return None


def analyze_run(
    run: PerfRun,
    ctx: RunContext,
    kube: Kube,
    status: PerfRunStatus,
    now: datetime,
    policy: AdminPolicy | None = None,
) -> dict[str, Any]:
    """Analyse the run's load window; returns the status fields results, verdict, message and
    report (the report ConfigMap's name)."""
    window = status.load_window
    start = parse_time(window.start).timestamp() if window else now.timestamp()
    end = parse_time(window.end).timestamp() if window and window.end else now.timestamp()
    baseline, missing = read_spec_baseline(kube, run)
    result = analyze(
        run.spec.analysis,
        prometheus_connection(run, ctx, kube, policy=policy),
        Window(start=start, end=end),
        load_summaries(kube, ctx),
        baseline=baseline,
        baseline_missing=missing,
        now=now.timestamp(),
    )
    promoted = promote_if_passed(kube, run, result, rfc3339(now))
    report = store_report(kube, run, ctx, result, now)
    message = "; ".join(m for m in (result.reason, promoted) if m)
    return {
        "results": result.results.model_dump(),
        "verdict": result.verdict,
        "message": message[:4096] or None,
        "report": report,
    }
