"""Read a run's namespace into ``Observed``: which rendered objects exist, what is ready,
which pods are broken beyond waiting, how the Jobs ended."""

from __future__ import annotations

import re
from typing import Any

from perfrun.api.status import LoadProgress
from perfrun.controller.observed import JobState, Observed, PodFailure
from perfrun.controller.progress import sum_progress
from perfrun.kube.cache import Reader
from perfrun.kube.events import ObjectEvent, failed_creates
from perfrun.render.context import LABEL_RUN, RunContext
from perfrun.render.jobs import DATASET_JOB, LOAD_JOB, LOAD_PROGRESS_CONFIGMAP, MIGRATIONS_JOB

# Container states that waiting will not fix: the run fails with the reason by name.
FATAL_WAITING = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)
# A CreateContainerConfigError that passes: the kubelet could not yet read a Secret or
# ConfigMap the pod uses ("failed to sync secret cache: timed out waiting for the
# condition": its watch of an object it may read only once the pod is bound to it had not
# synced). It retries, and the container starts a moment later; seen on a real node as the
# first pod of a fresh run failed the run at once. A Secret or key that is really missing
# reads "not found" or "couldn't find key" and stays fatal; readyTimeout ends a run whose
# container never starts.
PASSING_CONFIG_ERROR = re.compile(r"failed to sync (secret|configmap) cache")
SCALABLE = (("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"))


def _key(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def readiness(obj: dict[str, Any]) -> str | None:
    """``None`` when a Deployment/StatefulSet is ready, else 'Kind/name r/n ready'."""
    want = (obj.get("spec") or {}).get("replicas", 1) or 0
    status = obj.get("status") or {}
    ready = status.get("ready_replicas") or status.get("readyReplicas") or 0
    generation = obj["metadata"].get("generation")
    seen = status.get("observed_generation") or status.get("observedGeneration")
    if ready >= want and (generation is None or seen == generation):
        return None
    return f"{_key(obj)} {ready}/{want} ready"


def pod_failures(pods: list[dict[str, Any]]) -> tuple[PodFailure, ...]:
    found: list[PodFailure] = []
    for pod in pods:
        meta = pod["metadata"]
        owner = _owner(pod)
        status = pod.get("status") or {}
        containers = (status.get("container_statuses") or status.get("containerStatuses") or []) + (
            status.get("init_container_statuses") or status.get("initContainerStatuses") or []
        )
        for cs in containers:
            state = cs.get("state") or {}
            waiting = state.get("waiting") or {}
            last = (cs.get("last_state") or cs.get("lastState") or {}).get("terminated") or {}
            terminated = state.get("terminated") or {}
            if waiting.get("reason") in FATAL_WAITING:
                reason = waiting["reason"]
                message = waiting.get("message") or ""
                if reason == "CreateContainerConfigError" and PASSING_CONFIG_ERROR.search(message):
                    continue
                if reason == "CrashLoopBackOff" and last.get("reason") == "OOMKilled":
                    reason, message = "OOMKilled", f"container {cs['name']} ran out of memory"
                found.append(PodFailure(owner, meta["name"], reason, message))
            elif "OOMKilled" in (terminated.get("reason"), last.get("reason")):
                found.append(
                    PodFailure(owner, meta["name"], "OOMKilled", f"container {cs['name']}")
                )
    return tuple(found)


def creation_failures(obj: dict[str, Any]) -> tuple[PodFailure, ...]:
    """A Deployment whose pods the API server refuses to create (Pod Security, a quota, an
    admission policy): its controller says so in a ReplicaFailure condition, with the API
    server's message. Waiting will not create them: the run fails at once, not at
    readyTimeout."""
    out = []
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
            message = " ".join(str(cond.get("message") or cond.get("reason") or "").split())
            if PASSING.search(message):
                continue
            out.append(PodFailure(_key(obj), "(not created)", "FailedCreate", message[:1000]))
    return tuple(out)


# How the API server words a refusal that waiting will not change (Pod Security, a quota, a
# LimitRange, an admission policy or webhook, an invalid pod); a passing trouble (a webhook
# that does not answer, a timeout) reads "Internal error occurred: failed calling webhook"
# and the controller's retry may still succeed.
REFUSAL = re.compile(r"is forbidden|is invalid|denied the request|exceeded quota")
# A refusal that passes: a pod created before kube-controller-manager made its new
# namespace's "default" ServiceAccount (its serviceaccounts controller does that a moment
# after the namespace, later on a busy cluster: 35 of 200 runs applied at once ended
# FailedCreate for it) is refused by the ServiceAccount admission; the ReplicaSet, StatefulSet
# or Job controller tries again, and readyTimeout still ends a run whose account never comes.
PASSING = re.compile(
    r'error looking up service account [^ :]+/default: serviceaccount "default" not found'
)


def refuses(message: str) -> bool:
    """Whether an API server's message refuses a creation for good (see REFUSAL, PASSING)."""
    return bool(REFUSAL.search(message)) and not PASSING.search(message)


def refused_creations(events: list[ObjectEvent], waiting: dict[str, str]) -> tuple[PodFailure, ...]:
    """The pods (or volume claims) a StatefulSet or Job of the run could not create, from
    their controllers' FailedCreate Events (pure): only for ``waiting`` objects (uid ->
    "Kind/name", not ready or with no pod), only refusals, the latest per object."""
    latest: dict[str, ObjectEvent] = {}
    for event in events:
        if event.uid in waiting and refuses(event.message):
            latest[event.uid] = event
    return tuple(
        PodFailure(waiting[uid], "(not created)", "FailedCreate", event.message[:1000])
        for uid, event in sorted(latest.items(), key=lambda kv: waiting[kv[0]])
    )


def _waits_for_pods(job: dict[str, Any]) -> bool:
    """A Job not finished that has no pod: the only case where its controller's Events can
    say why (a running Job costs no extra read)."""
    status = job.get("status") or {}
    state = job_state(job)
    return not (state and (state.succeeded or state.failed)) and not status.get("active")


def _owner(pod: dict[str, Any]) -> str:
    labels = pod["metadata"].get("labels") or {}
    refs = pod["metadata"].get("owner_references") or pod["metadata"].get("ownerReferences") or []
    if "job-name" in labels:
        return f"Job/{labels['job-name']}"
    for ref in refs:
        if ref["kind"] == "ReplicaSet":
            return "Deployment/" + str(ref["name"]).rsplit("-", 1)[0]
        return f"{ref['kind']}/{ref['name']}"
    return f"Pod/{pod['metadata']['name']}"


def job_state(job: dict[str, Any] | None) -> JobState | None:
    if job is None:
        return None
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond["type"] in ("Complete", "SuccessCriteriaMet"):
            return JobState(succeeded=True)
        if cond["type"] in ("Failed", "FailureTarget"):
            message = cond.get("message") or cond.get("reason") or ""
            return JobState(failed=True, message=message)
    return JobState()


def observe_namespace(kube: Reader, ctx: RunContext) -> Observed:
    """Only whether the run's namespace exists: all a finished run needs (one GET)."""
    namespace = kube.get("v1", "Namespace", ctx.namespace)
    if namespace is None:
        return Observed()
    terminating = (namespace.get("status") or {}).get("phase") == "Terminating"
    return Observed(namespace_exists=True, namespace_terminating=terminating)


def observe(kube: Reader, ctx: RunContext, environment: list[dict[str, Any]]) -> Observed:
    """One read pass over the run namespace (no writes): from the operator's informers when
    ``kube`` is its cache, else a handful of LIST calls."""
    seen = observe_namespace(kube, ctx)
    if not seen.namespace_exists:
        return Observed(missing=tuple(_key(m) for m in environment))
    selector = f"{LABEL_RUN}={ctx.run_id}"
    present: set[str] = set()
    not_ready: list[str] = []
    refused: tuple[PodFailure, ...] = ()
    waiting: dict[str, str] = {}  # uid -> Kind/name of what waits for pods it may not get
    kinds = {(m["apiVersion"], m["kind"]) for m in environment}
    for api_version, kind in sorted(kinds | set(SCALABLE)):
        for obj in kube.list(api_version, kind, ctx.namespace, selector):
            obj.setdefault("kind", kind)
            present.add(_key(obj))
            if (api_version, kind) in SCALABLE:
                problem = readiness(obj)
                if problem:
                    not_ready.append(problem)
                    if kind == "StatefulSet":
                        waiting[str(obj["metadata"].get("uid"))] = _key(obj)
                refused += creation_failures(obj)
    missing = tuple(_key(m) for m in environment if _key(m) not in present)
    pods = kube.list("v1", "Pod", ctx.namespace, selector)
    jobs: dict[str, JobState] = {}
    for name in (MIGRATIONS_JOB, DATASET_JOB, LOAD_JOB):
        job = kube.get("batch/v1", "Job", name, ctx.namespace)
        state = job_state(job)
        if job is not None and state is not None:
            jobs[name] = state
            if _waits_for_pods(job):
                waiting[str(job["metadata"].get("uid"))] = f"Job/{name}"
    if waiting:  # one more LIST, only while something waits for its pods
        refused += refused_creations(failed_creates(kube, ctx.namespace), waiting)
    return Observed(
        namespace_exists=True,
        namespace_terminating=seen.namespace_terminating,
        missing=missing,
        not_ready=tuple(sorted(not_ready)),
        pod_failures=refused + pod_failures(pods),
        jobs=jobs,
        load_progress=load_progress(kube, ctx) if LOAD_JOB in jobs else None,
    )


def load_progress(kube: Reader, ctx: RunContext) -> LoadProgress | None:
    """The load pods' reports summed (one GET), once the load Job exists."""
    cm = kube.get("v1", "ConfigMap", LOAD_PROGRESS_CONFIGMAP, ctx.namespace)
    return sum_progress((cm or {}).get("data") or {})
