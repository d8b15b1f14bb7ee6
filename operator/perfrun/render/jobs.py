"""The run's Jobs: the application's migrations, the dataset restore/seed, and the Indexed
load Job. Each Job's config is a ConfigMap holding exactly its section of the spec, so the
program in the pod validates the same document the operator did."""

from __future__ import annotations

import math
from typing import Any

from perfrun.api import PerfRun, yamltext
from perfrun.api.base import ApiModel
from perfrun.api.types import parse_duration, parse_quantity
from perfrun.render import images, resources, security
from perfrun.render.connections import connection, env_from, secret_env
from perfrun.render.context import RunContext
from perfrun.render.meta import Manifest, config_map, obj
from perfrun.render.pods import metrics_port, pod_template, scrape_annotations

# The Jobs of a run, by name: rendered here, watched and judged by the controller.
MIGRATIONS_JOB = "migrations"
DATASET_JOB = "dataset"
LOAD_JOB = "load"
CONFIG_DIR = "/etc/perfrun"
RUN_SERVICE_ACCOUNT = "perfrun-run"
LOAD_METRICS_PORT = 9464
LOAD_SUMMARY_CONFIGMAP = "load-summary"
LOAD_PROGRESS_CONFIGMAP = "load-progress"
# How often each load pod reports its progress (the operator's status.load follows it).
LOAD_PROGRESS_INTERVAL_S = 15
# Time a load pod needs besides the load itself: scheduling, image pull, start, drain, and
# writing its summary. The Job's deadline is maxDuration plus this, so it only fires when a
# pod really hangs.
LOAD_MARGIN_MIN_S = 120
LOAD_MARGIN_SHARE = 0.1
# A load process sends about one core's worth: a pod requesting more CPU runs one process per
# core it requests (rounded up), at most this many, each with at least this much memory.
LOAD_MAX_PROCESSES = 16
LOAD_PROCESS_MEMORY = parse_quantity("128Mi")


def load_processes(run: PerfRun, container_resources: dict[str, Any]) -> int:
    """Processes per load pod: one per core of its CPU request (rounded up), no more than its
    memory limit holds at ``LOAD_PROCESS_MEMORY`` each, than ``LOAD_MAX_PROCESSES``, or than
    leave every process a share of at least 1 of maxRps and maxInFlight."""
    load = run.spec.load
    cores = parse_quantity(container_resources["requests"]["cpu"])
    memory = parse_quantity(container_resources["limits"]["memory"])
    budget = min(load.budget.max_rps, load.budget.max_in_flight) // load.parallelism
    by_memory = int(memory // LOAD_PROCESS_MEMORY)
    return max(1, min(math.ceil(cores), by_memory, LOAD_MAX_PROCESSES, budget))


def spec_yaml(section: ApiModel) -> str:
    """A spec section as the user wrote it (camelCase, unset fields left out)."""
    return yamltext.dump(section.to_wire())


def job(
    ctx: RunContext,
    name: str,
    template: dict[str, Any],
    *,
    backoff_limit: int,
    deadline_s: int,
    completions: int | None = None,
) -> Manifest:
    """A Job; with ``completions`` an Indexed one running all its pods at once."""
    out = obj("batch/v1", "Job", ctx, name, component=name, role=name)
    spec: dict[str, Any] = {
        "backoffLimit": backoff_limit,
        "activeDeadlineSeconds": deadline_s,
        "template": template,
    }
    if completions is not None:
        spec.update(completionMode="Indexed", completions=completions, parallelism=completions)
    out["spec"] = spec
    return out


def perfrun_container(
    ctx: RunContext, name: str, image: str, args: list[str], env: list[dict[str, Any]]
) -> dict[str, Any]:
    """A container of the perfrun image: fixed non-root uid, read-only root, /tmp writable."""
    return {
        "name": name,
        "image": image,
        "command": ["perfrun"],
        "args": args,
        "env": [
            {"name": "PERFRUN_RUN_ID", "value": ctx.run_id},
            {"name": "HOME", "value": "/tmp"},
            *env,
        ],
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
        "securityContext": {
            **security.known_user(images.UID_PERFRUN),
            "readOnlyRootFilesystem": True,
        },
    }


def perfrun_volumes(config_name: str) -> list[dict[str, Any]]:
    return [
        {"name": "config", "configMap": {"name": config_name}},
        {"name": "tmp", "emptyDir": {}},
    ]


def migrations_job(run: PerfRun, ctx: RunContext) -> list[Manifest]:
    """The application's schema migrations, in its own image, with the connections Secret."""
    spec = run.spec.environment.migrations
    if spec is None:
        return []
    container: dict[str, Any] = {"name": "migrations", "image": spec.image}
    if spec.command is not None:
        container["command"] = list(spec.command)
    if spec.args:
        container["args"] = list(spec.args)
    container["env"] = [
        {"name": "PERFRUN_RUN_ID", "value": ctx.run_id},
        *({"name": e.name, "value": e.value} for e in spec.env),
    ]
    container["envFrom"] = env_from()
    container["resources"] = resources.container_resources(spec.resources, resources.SMALL)
    container["securityContext"] = security.unknown_user(run.spec.environment.pod_security)
    template = pod_template(
        ctx,
        "migrations",
        "migrations",
        [container],
        security=security.pod_security(),
        restart_policy="Never",
        extra=spec.pod_metadata,
    )
    deadline = max(1, math.ceil(parse_duration(spec.timeout)))
    return [
        job(ctx, MIGRATIONS_JOB, template, backoff_limit=spec.backoff_limit, deadline_s=deadline)
    ]


def dataset_job(run: PerfRun, ctx: RunContext) -> list[Manifest]:
    """``perfrun seed`` (synthetic) or ``perfrun restore`` (dump) against the dataset's
    database. A snapshot needs no Job: it is the database volume's dataSource."""
    dataset = run.spec.dataset
    if dataset is None or dataset.snapshot is not None:
        return []
    target = next(c for c in run.spec.environment.components if c.name == dataset.into)
    dsn_key = connection(run, ctx, target).url_key
    config_file = f"{CONFIG_DIR}/dataset.yaml"
    if dataset.synthetic is not None:
        args = ["seed", "--config", config_file, "--dsn", "$(PERFRUN_DSN)"]
    else:
        args = ["restore", "--config", config_file, "--dsn", "$(PERFRUN_DSN)"]
        args += ["--workdir", "/tmp/restore"]
    container = perfrun_container(
        ctx, "dataset", ctx.image, args, [secret_env("PERFRUN_DSN", dsn_key)]
    )
    container["resources"] = resources.container_resources(dataset.resources, resources.LOAD)
    template = pod_template(
        ctx,
        "dataset",
        "dataset",
        [container],
        security=security.pod_security(images.UID_PERFRUN),
        volumes=perfrun_volumes("dataset-config"),
        restart_policy="Never",
    )
    deadline = max(1, math.ceil(parse_duration(dataset.timeout)))
    return [
        config_map(
            ctx,
            "dataset-config",
            {"dataset.yaml": spec_yaml(dataset)},
            component="dataset",
            role="dataset",
        ),
        job(ctx, DATASET_JOB, template, backoff_limit=0, deadline_s=deadline),
    ]


def load_deadline_s(run: PerfRun) -> int:
    budget = parse_duration(run.spec.load.budget.max_duration)
    return math.ceil(budget + max(LOAD_MARGIN_MIN_S, budget * LOAD_MARGIN_SHARE))


def load_job(run: PerfRun, ctx: RunContext) -> list[Manifest]:
    """``parallelism`` pods of ``perfrun load``, pod i running share i of the budget (its
    index comes from JOB_COMPLETION_INDEX, which the Job controller sets). Each pod serves
    /metrics on 9464 for Prometheus, reports its progress every 15 s to the ConfigMap
    ``load-progress`` (key ``progress-<i>.json``) and at the end adds its summary to
    ``load-summary`` (key ``summary-<i>.json``). Both are rendered here, empty and labelled
    with the run, so the pods only patch them. A pod requesting more than one core runs its
    share in several processes (``load_processes``)."""
    load = run.spec.load
    count = load.parallelism
    args = [
        "load",
        "--config",
        f"{CONFIG_DIR}/load.yaml",
        "--count",
        str(count),
        "--summary",
        "/tmp/summary.json",
        "--metrics-port",
        str(LOAD_METRICS_PORT),
    ]
    env: list[dict[str, Any]] = [
        {"name": "PERFRUN_LOAD_COUNT", "value": str(count)},
        {"name": "PERFRUN_SUMMARY_CONFIGMAP", "value": LOAD_SUMMARY_CONFIGMAP},
        {"name": "PERFRUN_PROGRESS_CONFIGMAP", "value": LOAD_PROGRESS_CONFIGMAP},
        {"name": "PERFRUN_PROGRESS_INTERVAL", "value": str(LOAD_PROGRESS_INTERVAL_S)},
        {
            "name": "PERFRUN_NAMESPACE",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
        },
    ]
    limits = resources.container_resources(load.resources, resources.LOAD)
    processes = load_processes(run, limits)
    if processes > 1:
        args += ["--processes", str(processes)]
    container = perfrun_container(ctx, "load", load.image or ctx.image, args, env)
    container["ports"] = [metrics_port(LOAD_METRICS_PORT)]
    container["resources"] = limits
    template = pod_template(
        ctx,
        "load",
        "load",
        [container],
        security=security.pod_security(images.UID_PERFRUN),
        annotations=scrape_annotations(LOAD_METRICS_PORT),
        volumes=perfrun_volumes("load-config"),
        service_account=RUN_SERVICE_ACCOUNT,
        restart_policy="Never",
        extra=load.pod_metadata,
    )
    written_by_pods = [
        obj("v1", "ConfigMap", ctx, name, component="load", role="load")
        for name in (LOAD_SUMMARY_CONFIGMAP, LOAD_PROGRESS_CONFIGMAP)
    ]
    return [
        config_map(
            ctx, "load-config", {"load.yaml": spec_yaml(load)}, component="load", role="load"
        ),
        *written_by_pods,
        job(
            ctx,
            LOAD_JOB,
            template,
            backoff_limit=0,
            deadline_s=load_deadline_s(run),
            completions=count,
        ),
    ]
