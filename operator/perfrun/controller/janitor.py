"""The janitor: delete a perf namespace when its PerfRun is gone (or is another PerfRun by
now) or when its hard deadline passed. Namespaces without our labels are never touched.
Only the replica kopf lets work (see ``paused``) sweeps.

One LIST of our namespaces per interval, rather than a kopf daemon per namespace: kopf keeps
a daemon's bookkeeping (finalizer, progress annotations) on the object itself, which cost
nine writes to every run's namespace and held up its deletion."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from perfrun.api.perfrun import API_VERSION, KIND
from perfrun.api.times import parse_time
from perfrun.kube.client import Kube
from perfrun.kube.errors import KindNotServedError, KubeError
from perfrun.kube.reports import expired, list_reports
from perfrun.render.context import (
    ANNOTATION_PERFRUN_UID,
    LABEL_MANAGED_BY,
    LABEL_PERFRUN,
    LABEL_PERFRUN_NAMESPACE,
    MANAGED_BY,
)

# kopf's finalizer (settings.persistence.finalizer). The janitor used to be a kopf daemon on
# every perf namespace, which put it there; that operator gone, nothing removes it and the
# namespace stays Terminating for ever.
KOPF_FINALIZER = "perfrun.dev/teardown"
PEERING_API = "kopf.dev/v1"


def orphan_reason(
    namespace: dict[str, Any], perfrun: dict[str, Any] | None, now: datetime
) -> str | None:
    """Why ``namespace`` should go, or None to keep it (pure)."""
    meta = namespace["metadata"]
    labels = meta.get("labels") or {}
    if labels.get(LABEL_MANAGED_BY) != MANAGED_BY:
        return None
    if (namespace.get("status") or {}).get("phase") == "Terminating":
        return None
    if perfrun is None:
        return "its PerfRun no longer exists"
    uid = (meta.get("annotations") or {}).get(ANNOTATION_PERFRUN_UID)
    if uid and perfrun["metadata"].get("uid") != uid:
        return "its PerfRun was deleted and re-created"
    status = perfrun.get("status") or {}
    expires = status.get("expiresAt")
    finished = status.get("finishedAt")
    if expires and not finished and now >= _instant(expires):
        # the run's own reconcile marks it Expired; this is the backstop if it cannot
        return f"expiresAt {expires} passed"
    return None


def _instant(text: object) -> datetime:
    """A status timestamp; one that is none (a status edited by hand) is judged by the
    run's own reconcile, which rewrites it, never a reason to stop the sweep of the others."""
    try:
        return parse_time(str(text))
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)


def in_scope(patterns: list[str]) -> Callable[[str], bool]:
    """Whether a PerfRun namespace is one this operator serves (kopf's -n globs; none: all)."""
    return lambda ns: not patterns or any(fnmatchcase(ns, p) for p in patterns)


def finalizers_to_keep(namespace: dict[str, Any]) -> list[str] | None:
    """The finalizers a Terminating namespace of ours keeps once kopf's is stripped, or None
    when there is nothing to strip: not ours, not being deleted, or no kopf finalizer (pure)."""
    meta = namespace["metadata"]
    if (meta.get("labels") or {}).get(LABEL_MANAGED_BY) != MANAGED_BY:
        return None
    terminating = (namespace.get("status") or {}).get("phase") == "Terminating"
    if not (meta.get("deletionTimestamp") or terminating):
        return None
    finalizers: list[str] = list(meta.get("finalizers") or [])
    if KOPF_FINALIZER not in finalizers:
        return None
    return [f for f in finalizers if f != KOPF_FINALIZER]


@dataclass
class Swept:
    """What one sweep did: {namespace: why} deleted, and namespaces released from kopf's
    finalizer."""

    deleted: dict[str, str] = field(default_factory=dict)
    released: list[str] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)  # report ConfigMaps past keep-until


def sweep(kube: Kube, now: datetime, served: Callable[[str], bool]) -> Swept:
    """Judge every namespace this operator labelled whose PerfRun it serves: delete the
    orphans, strip kopf's finalizer from the Terminating ones an old janitor left it on."""
    swept = Swept()
    ours = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
    namespaces = kube.list("v1", "Namespace", label_selector=ours)
    perfruns = _perfruns(kube, namespaces, served)
    for namespace in namespaces:
        name = namespace["metadata"]["name"]
        owner_ns = (namespace["metadata"].get("labels") or {}).get(LABEL_PERFRUN_NAMESPACE)
        if owner_ns and not served(owner_ns):
            continue
        keep = finalizers_to_keep(namespace)
        if keep is not None:
            if release(kube, namespace, keep):
                swept.released.append(name)
            continue
        reason = judge(kube, namespace, now, perfruns)
        if reason:
            swept.deleted[name] = reason
    swept.reports = sweep_reports(kube, now, served)
    return swept


def sweep_reports(kube: Kube, now: datetime, served: Callable[[str], bool]) -> list[str]:
    """Delete the report ConfigMaps past their keep-until in the namespaces served."""
    gone = []
    for report in list_reports(kube):
        meta = report["metadata"]
        if not served(meta["namespace"]) or not expired(report, now):
            continue
        if kube.delete("v1", "ConfigMap", meta["name"], meta["namespace"]):
            gone.append(f"{meta['namespace']}/{meta['name']}")
    return gone


def release(kube: Kube, namespace: dict[str, Any], keep: list[str]) -> bool:
    """Set the namespace's finalizers to ``keep``, provided they are still what we judged
    (a JSON patch ``test``): False when they changed or the namespace is gone meanwhile."""
    meta = namespace["metadata"]
    patch = [
        {"op": "test", "path": "/metadata/finalizers", "value": meta.get("finalizers") or []},
        {"op": "replace", "path": "/metadata/finalizers", "value": keep},
    ]
    try:
        kube.json_patch("v1", "Namespace", meta["name"], patch)
    except KubeError as exc:
        if exc.status in (404, 409, 422):  # gone, or changed since we read it: next sweep
            return False
        raise
    return True


def _perfruns(
    kube: Kube, namespaces: list[dict[str, Any]], served: Callable[[str], bool]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The PerfRuns of the served namespaces that own these run namespaces: one LIST per
    PerfRun namespace, not a GET per run (200 runs: 200 reads every sweep). Listed after the
    namespaces, so every PerfRun older than its namespace is in it."""
    owners = {
        (ns["metadata"].get("labels") or {}).get(LABEL_PERFRUN_NAMESPACE) for ns in namespaces
    }
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for owner_ns in sorted(o for o in owners if o and served(o)):
        for perfrun in kube.list(API_VERSION, KIND, owner_ns):
            meta = perfrun["metadata"]
            found[(owner_ns, str(meta["name"])[:63])] = perfrun  # as the label holds it
            found[("uid", str(meta.get("uid")))] = perfrun
    return found


def judge(
    kube: Kube,
    namespace: dict[str, Any],
    now: datetime,
    perfruns: dict[tuple[str, str], dict[str, Any]] | None = None,
) -> str | None:
    """Judge one namespace and delete it when it is an orphan; returns the reason. Its
    PerfRun from ``perfruns`` (listed by the sweep), else read now."""
    name = namespace["metadata"]["name"]
    labels = namespace["metadata"].get("labels") or {}
    owner_ns = labels.get(LABEL_PERFRUN_NAMESPACE)
    owner = labels.get(LABEL_PERFRUN)
    if not (owner and owner_ns):
        perfrun = None
    elif perfruns is not None:  # by the uid it was made for (a name may be cut in the label)
        uid = (namespace["metadata"].get("annotations") or {}).get(ANNOTATION_PERFRUN_UID)
        perfrun = perfruns.get(("uid", str(uid))) or perfruns.get((owner_ns, owner))
    else:
        perfrun = kube.get(API_VERSION, KIND, owner, owner_ns)
    reason = orphan_reason(namespace, perfrun, now)
    if reason:
        kube.delete("v1", "Namespace", name)
    return reason


# ---- peering: only the replica kopf lets work sweeps -----------------------------------------


@dataclass(frozen=True)
class Peering:
    """This replica in kopf's peering: kopf's ``settings.peering`` and its identity."""

    identity: str
    priority: int
    name: str
    standalone: bool = False
    mandatory: bool = False  # --peering NAME: kopf waits while the peering object is missing
    namespaces: tuple[str, ...] = ()  # kopf's -n patterns; none: cluster-wide


def _dead(info: dict[str, Any], now: datetime) -> bool:
    lastseen = info.get("lastseen")
    if lastseen is None:  # kopf counts a peer without lastseen as just seen
        return False
    seen = datetime.fromisoformat(str(lastseen))  # kopf writes isoformat(), with +00:00
    if seen.tzinfo is None:
        seen = seen.replace(tzinfo=UTC)
    return seen + timedelta(seconds=int(info.get("lifetime", 60))) <= now


def paused_by(
    peering: dict[str, Any] | None, identity: str, priority: int, mandatory: bool, now: datetime
) -> str | None:
    """Why kopf keeps this replica paused by this peering object, or None when it may work
    (pure). kopf's own rule (``process_peering_event`` in kopf/_core/engines/peering.py):
    paused while another live peer has a higher or the same priority; a peer is dead once
    its lastseen plus its own lifetime passed. Without the object kopf waits when peering is
    mandatory and runs standalone otherwise. Stricter than kopf in one point: until kopf
    registered this replica in the object, it waits (kopf is then only starting)."""
    if peering is None:
        return "the peering object does not exist" if mandatory else None
    peers = peering.get("status") or {}
    if identity not in peers:  # kopf has not peered yet (and starts paused when it must)
        return f"{identity} is not registered in it yet"
    blocking = []
    for peer, info in peers.items():
        if peer == identity or not isinstance(info, dict) or _dead(info, now):
            continue
        theirs = int(info.get("priority", 0))
        if theirs >= priority:
            blocking.append(f"{peer} (priority {theirs})")
    if not blocking:
        return None
    return f"live peers with priority >= {priority}: {', '.join(sorted(blocking))}"


def paused(kube: Kube, peering: Peering | None, now: datetime) -> str | None:
    """Why this replica is paused (kopf's rule on the live peering objects), or None when it
    is the one to work. Namespaced operators peer in every namespace they serve, and kopf
    pauses them when any of those says so."""
    if peering is None or peering.standalone:
        return None
    if not peering.namespaces:
        where: list[str | None] = [None]
        kind = "ClusterKopfPeering"
    else:
        served = in_scope(list(peering.namespaces))
        names = (ns["metadata"]["name"] for ns in kube.list("v1", "Namespace"))
        where = [ns for ns in names if served(ns)]
        kind = "KopfPeering"
    for namespace in where:
        try:
            obj = kube.get(PEERING_API, kind, peering.name, namespace)
        except KindNotServedError:  # no peering CRD: like a missing object
            obj = None
        reason = paused_by(obj, peering.identity, peering.priority, peering.mandatory, now)
        if reason:
            return f"{kind} {peering.name}{f' in {namespace}' if namespace else ''}: {reason}"
    return None
