"""Jobs: migrations only when asked for, the dataset Job with exactly spec.dataset as its
config (none for a snapshot), and the Indexed load Job."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from tests.render.helpers import by_kind, context, variant

from perfrun.api import Dataset, LoadSpec, PerfRun
from perfrun.render import jobs


def test_migrations_job(full: PerfRun) -> None:
    (job,) = jobs.migrations_job(full, context(full))
    assert job["metadata"]["name"] == "migrations"
    assert job["spec"]["backoffLimit"] == 1
    assert job["spec"]["activeDeadlineSeconds"] == 600
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (c,) = pod["containers"]
    assert c["args"] == ["migrate"] and c["command"] == ["/usr/local/bin/shop"]
    assert c["envFrom"] == [{"secretRef": {"name": "perfrun-connections"}}]


def test_no_migrations_no_job(minimal: PerfRun) -> None:
    assert jobs.migrations_job(minimal, context(minimal)) == []


def test_dataset_job_runs_seed_with_exactly_the_dataset(full: PerfRun) -> None:
    objs = jobs.dataset_job(full, context(full))
    text = by_kind(objs, "ConfigMap")["dataset-config"]["data"]["dataset.yaml"]
    assert Dataset.model_validate(yaml.safe_load(text)) == full.spec.dataset
    job = by_kind(objs, "Job")["dataset"]
    assert job["spec"]["activeDeadlineSeconds"] == 1800
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["image"] == context(full).image
    assert c["command"] == ["perfrun"]
    assert c["args"][:3] == ["seed", "--config", "/etc/perfrun/dataset.yaml"]
    assert c["args"][3:5] == ["--dsn", "$(PERFRUN_DSN)"]
    dsn = next(e for e in c["env"] if e["name"] == "PERFRUN_DSN")
    assert dsn["valueFrom"]["secretKeyRef"] == {"name": "perfrun-connections", "key": "DB_URL"}
    assert {"name": "PERFRUN_RUN_ID", "value": context(full).run_id} in c["env"]


def test_dump_dataset_runs_restore() -> None:
    def dump(doc: dict[str, Any]) -> None:
        dataset = doc["spec"]["dataset"]
        dataset.pop("synthetic")
        dataset["dump"] = {"url": "https://dumps.example/golden.dump", "sha256": "a" * 64}

    run = variant("perfrun-full.yaml", dump)
    job = by_kind(jobs.dataset_job(run, context(run)), "Job")["dataset"]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][0] == "restore"


def test_snapshot_or_no_dataset_no_job(minimal: PerfRun) -> None:
    def snapshot(doc: dict[str, Any]) -> None:
        dataset = doc["spec"]["dataset"]
        dataset.pop("synthetic")
        dataset["snapshot"] = {"volumeSnapshot": "golden-medium"}

    run = variant("perfrun-full.yaml", snapshot)
    assert jobs.dataset_job(run, context(run)) == []
    assert jobs.dataset_job(minimal, context(minimal)) == []


def test_load_job_is_indexed(run: PerfRun) -> None:
    ctx = context(run)
    objs = jobs.load_job(run, ctx)
    job = by_kind(objs, "Job")["load"]
    n = run.spec.load.parallelism
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == n
    assert spec["backoffLimit"] == 0
    assert spec["activeDeadlineSeconds"] > jobs.load_deadline_s(run) - 1
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "perfrun-run"
    assert pod["restartPolicy"] == "Never"
    (c,) = pod["containers"]
    assert c["args"] == [
        "load",
        "--config",
        "/etc/perfrun/load.yaml",
        "--count",
        str(n),
        "--summary",
        "/tmp/summary.json",
        "--metrics-port",
        "9464",
    ]
    env = {e["name"]: e for e in c["env"]}
    assert env["PERFRUN_LOAD_COUNT"]["value"] == str(n)
    assert env["PERFRUN_SUMMARY_CONFIGMAP"]["value"] == jobs.LOAD_SUMMARY_CONFIGMAP
    assert env["PERFRUN_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert spec["template"]["metadata"]["annotations"]["prometheus.io/port"] == "9464"
    assert c["ports"][0] == {"name": "metrics", "containerPort": 9464, "protocol": "TCP"}
    text = by_kind(objs, "ConfigMap")["load-config"]["data"]["load.yaml"]
    assert LoadSpec.model_validate(yaml.safe_load(text)) == run.spec.load
    summary = by_kind(objs, "ConfigMap")[jobs.LOAD_SUMMARY_CONFIGMAP]
    assert summary["metadata"]["labels"].items() >= ctx.labels().items()
    assert "data" not in summary  # the pods own its keys


def test_load_deadline_covers_the_budget(full: PerfRun) -> None:
    assert jobs.load_deadline_s(full) == 30 * 60 + 180  # 30m + 10%
    assert jobs.load_deadline_s(full) > 30 * 60


def test_load_image_override() -> None:
    def image(doc: dict[str, Any]) -> None:
        doc["spec"]["load"]["image"] = "registry.example/perfrun:dev"

    run = variant("perfrun-minimal.yaml", image)
    job = by_kind(jobs.load_job(run, context(run)), "Job")["load"]
    assert (
        job["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/perfrun:dev"
    )


def test_job_pods_take_their_resources_from_the_spec(full: PerfRun) -> None:
    # the full example gives each load pod a whole core
    (load,) = [o for o in jobs.load_job(full, context(full)) if o["kind"] == "Job"]
    (c,) = load["spec"]["template"]["spec"]["containers"]
    assert c["resources"] == {
        "requests": {"cpu": "1", "memory": "256Mi"},
        "limits": {"memory": "512Mi"},
    }

    def sized(doc: dict[str, Any]) -> None:
        doc["spec"]["environment"]["migrations"]["resources"] = {"limits": {"cpu": "2"}}
        doc["spec"]["dataset"]["resources"] = {"requests": {"memory": "2Gi"}}

    run = variant("perfrun-full.yaml", sized)
    (migrations,) = jobs.migrations_job(run, context(run))
    (c,) = migrations["spec"]["template"]["spec"]["containers"]
    # a limit without a request gets the limit as its request, as Kubernetes would
    assert c["resources"]["requests"]["cpu"] == "2" and c["resources"]["limits"]["cpu"] == "2"
    dataset = by_kind(jobs.dataset_job(run, context(run)), "Job")["dataset"]
    (c,) = dataset["spec"]["template"]["spec"]["containers"]
    # a request above the default memory limit raises the limit, so the pod stays valid
    assert c["resources"]["requests"]["memory"] == "2Gi"
    assert c["resources"]["limits"]["memory"] == "2Gi"


@pytest.mark.parametrize(
    ("cpu", "memory", "expected"),
    [
        ("1", "512Mi", 1),  # one core: one process, no --processes
        ("500m", "512Mi", 1),
        ("1500m", "1Gi", 2),  # a core and a half: two processes (rounded up)
        ("4", "2Gi", 4),
        ("4", "256Mi", 2),  # as many as the memory limit holds at 128Mi each
        ("64", "64Gi", jobs.LOAD_MAX_PROCESSES),
    ],
)
def test_a_load_pod_runs_one_process_per_core_it_requests(
    cpu: str, memory: str, expected: int
) -> None:
    def sized(doc: dict[str, Any]) -> None:
        doc["spec"]["load"]["resources"] = {
            "requests": {"cpu": cpu, "memory": "256Mi"},
            "limits": {"memory": memory},
        }

    run = variant("perfrun-full.yaml", sized)
    job = by_kind(jobs.load_job(run, context(run)), "Job")["load"]
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    if expected == 1:
        assert "--processes" not in args
    else:
        assert args[args.index("--processes") + 1] == str(expected)


def test_load_processes_leave_every_process_a_share_of_the_budget() -> None:
    def small(doc: dict[str, Any]) -> None:
        load = doc["spec"]["load"]
        load["resources"] = {"requests": {"cpu": "8", "memory": "4Gi"}}
        load["parallelism"] = 2
        load["budget"]["maxInFlight"] = 6  # 3 per pod: 3 processes of 1 each, not 8

    run = variant("perfrun-full.yaml", small)
    job = by_kind(jobs.load_job(run, context(run)), "Job")["load"]
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--processes") + 1] == "3"
