"""Components: the connections Secret, postgres/redis/rabbitmq with their settings, probes,
metrics ports and volumes, and a snapshot dataset cloned into the database volume."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import pytest
import yaml
from tests.render.helpers import by_kind, context, pod_templates, variant

from perfrun.api import PerfRun
from perfrun.render.components import components
from perfrun.render.pods import METRICS_PORT_NAME
from perfrun.render.prometheus import config, prometheus


def _secret(run: PerfRun) -> dict[str, str]:
    secret = by_kind(components(run, context(run)), "Secret")["perfrun-connections"]
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def test_connections_secret(full: PerfRun) -> None:
    env = _secret(full)
    pw = env["DB_PASSWORD"]
    assert len(pw) == 32
    assert env["DATABASE_URL"] == f"postgresql://perfrun:{pw}@db:5432/app"
    assert env["DATABASE_URL"] == env["DB_URL"]
    assert (env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGDATABASE"]) == (
        "db",
        "5432",
        "perfrun",
        "app",
    )
    assert env["PGPASSWORD"] == pw
    assert env["REDIS_URL"] == f"redis://:{env['CACHE_PASSWORD']}@cache:6379/0"
    assert env["AMQP_URL"] == f"amqp://perfrun:{env['QUEUE_PASSWORD']}@queue:5672/%2F"
    assert len({env["DB_PASSWORD"], env["CACHE_PASSWORD"], env["QUEUE_PASSWORD"]}) == 3


def test_passwords_are_stable_but_depend_on_the_operators_secret_seed(full: PerfRun) -> None:
    def password(seed: str) -> str:
        ctx = dataclasses.replace(context(full), secret_seed=seed)
        secret = by_kind(components(full, ctx), "Secret")["perfrun-connections"]
        return base64.b64decode(secret["data"]["DB_PASSWORD"]).decode()

    assert password("") == _secret(full)["DB_PASSWORD"]  # same run, same Secret
    assert password("s3cret") == password("s3cret")  # a restart renders the same Secret
    assert password("s3cret") != password("")  # the uid alone no longer gives it away
    assert password("s3cret") != password("other")


def test_settings_carry_the_seed_into_the_run_context(monkeypatch: pytest.MonkeyPatch) -> None:
    from perfrun.controller.reconcile import context_for
    from perfrun.controller.settings import OperatorSettings

    monkeypatch.setenv("PERFRUN_SECRET_SEED", "s3cret")
    body = {"metadata": {"name": "r", "namespace": "team", "uid": "u-1"}}
    assert context_for(body, OperatorSettings.from_env()).secret_seed == "s3cret"


def test_connections_secret_without_components_is_empty(minimal: PerfRun) -> None:
    assert _secret(minimal) == {}


def test_first_postgres_gets_the_conventional_names() -> None:
    def two(doc: dict[str, Any]) -> None:
        doc["spec"]["environment"]["components"].append({"name": "reports-db", "kind": "postgres"})

    env = _secret(variant("perfrun-full.yaml", two))
    assert env["DATABASE_URL"] == env["DB_URL"]
    assert env["REPORTS_DB_URL"].endswith("@reports-db:5432/app")


def test_postgres(full: PerfRun) -> None:
    objs = components(full, context(full))
    sts = by_kind(objs, "StatefulSet")["db"]
    assert sts["spec"]["replicas"] == 1
    assert sts["spec"]["serviceName"] == "db-headless"
    assert by_kind(objs, "Service")["db-headless"]["spec"]["clusterIP"] == "None"
    assert by_kind(objs, "Service")["db"]["spec"]["ports"][0]["port"] == 5432
    pod = sts["spec"]["template"]
    db, exporter = pod["spec"]["containers"]
    assert db["image"] == "docker.io/library/postgres:16.4"
    assert db["args"] == [
        "-c",
        "max_connections=200",
        "-c",
        "shared_buffers=512MB",
        "-c",
        "work_mem=8MB",
    ]
    assert db["readinessProbe"]["exec"]["command"][0] == "pg_isready"
    assert exporter["image"] == "quay.io/prometheuscommunity/postgres-exporter:v0.15.0"
    assert exporter["ports"][0]["name"] == METRICS_PORT_NAME
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == "9187"
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert "dataSource" not in claim["spec"]
    assert "storageClassName" not in claim["spec"]


def test_postgres_default_image_and_empty_dir_without_storage() -> None:
    def plain(doc: dict[str, Any]) -> None:
        db = doc["spec"]["environment"]["components"][0]
        for key in ("image", "storage", "settings", "version"):
            db.pop(key)

    run = variant("perfrun-full.yaml", plain)
    sts = by_kind(components(run, context(run)), "StatefulSet")["db"]
    db = sts["spec"]["template"]["spec"]["containers"][0]
    assert db["image"] == "postgres:16"
    assert "args" not in db
    assert "volumeClaimTemplates" not in sts["spec"]
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"] == {"name": "data", "emptyDir": {}}


def test_storage_class_from_the_context(full: PerfRun) -> None:
    ctx = context(full)
    ctx = type(ctx)(**{**ctx.__dict__, "storage_class": "fast-ssd"})
    for sts in by_kind(components(full, ctx), "StatefulSet").values():
        for claim in sts["spec"]["volumeClaimTemplates"]:
            assert claim["spec"]["storageClassName"] == "fast-ssd"


def _snapshot(doc: dict[str, Any]) -> None:
    dataset = doc["spec"]["dataset"]
    dataset.pop("synthetic")
    dataset["snapshot"] = {"volumeSnapshot": "golden-medium"}


def test_snapshot_dataset_becomes_the_volume_data_source() -> None:
    run = variant("perfrun-full.yaml", _snapshot)
    sts = by_kind(components(run, context(run)), "StatefulSet")
    (claim,) = sts["db"]["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["dataSource"] == {
        "apiGroup": "snapshot.storage.k8s.io",
        "kind": "VolumeSnapshot",
        "name": "golden-medium",
    }
    assert "dataSource" not in sts["queue"]["spec"]["volumeClaimTemplates"][0]["spec"]


def test_redis(full: PerfRun) -> None:
    objs = components(full, context(full))
    dep = by_kind(objs, "Deployment")["cache"]
    redis, exporter = dep["spec"]["template"]["spec"]["containers"]
    assert redis["image"] == "redis:7"
    assert redis["args"] == [
        "redis-server",
        "--requirepass",
        "$(REDIS_PASSWORD)",
        "--maxmemory",
        "256mb",
        "--maxmemory-policy",
        "allkeys-lru",
    ]
    assert redis["env"][0]["valueFrom"]["secretKeyRef"]["key"] == "CACHE_PASSWORD"
    assert "readinessProbe" in redis
    assert exporter["image"] == "oliver006/redis_exporter:v1.62.0"
    assert exporter["ports"][0]["name"] == METRICS_PORT_NAME
    assert by_kind(objs, "Service")["cache"]["spec"]["ports"][0]["port"] == 6379


def test_rabbitmq(full: PerfRun) -> None:
    objs = components(full, context(full))
    sts = by_kind(objs, "StatefulSet")["queue"]
    (rabbit,) = sts["spec"]["template"]["spec"]["containers"]
    assert rabbit["image"] == "rabbitmq:3.13-management"
    assert "readinessProbe" in rabbit
    ports = {p["name"]: p["port"] for p in by_kind(objs, "Service")["queue"]["spec"]["ports"]}
    assert ports["amqp"] == 5672 and ports["metrics"] == 15692
    config_map = by_kind(objs, "ConfigMap")["queue-config"]["data"]
    assert "rabbitmq_prometheus" in config_map["enabled_plugins"]
    conf = config_map["rabbitmq.conf"].splitlines()
    assert "vm_memory_high_watermark.relative = 0.6" in conf
    assert "prometheus.return_per_object_metrics = true" in conf
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"] == {
        "storage": "5Gi"
    }


def test_every_component_is_probed_and_scraped(full: PerfRun) -> None:
    for owner, template in pod_templates(components(full, context(full))):
        containers = template["spec"]["containers"]
        assert all("readinessProbe" in c for c in containers), owner["metadata"]["name"]
        assert template["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
        port = int(template["metadata"]["annotations"]["prometheus.io/port"])
        named = [p for c in containers for p in c["ports"] if p["name"] == METRICS_PORT_NAME]
        assert [p["containerPort"] for p in named] == [port]


def test_prometheus_scrapes_the_run_namespace_only(full: PerfRun) -> None:
    ctx = context(full)
    objs = prometheus(full, ctx)
    text = by_kind(objs, "ConfigMap")["prometheus-config"]["data"]["prometheus.yml"]
    assert yaml.safe_load(text) == config(ctx)
    (job,) = config(ctx)["scrape_configs"]
    assert job["kubernetes_sd_configs"] == [
        {"role": "pod", "namespaces": {"names": [ctx.namespace]}}
    ]
    assert config(ctx)["global"]["scrape_interval"] == "5s"
    svc = by_kind(objs, "Service")["prometheus"]["spec"]
    assert svc["ports"][0]["port"] == 9090
    # no ClusterIP (the API server allocates those one at a time), only ready pods published
    assert svc["clusterIP"] == "None" and "publishNotReadyAddresses" not in svc
    dep = by_kind(objs, "Deployment")["prometheus"]
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "prom/prometheus:v2.53.2"


def test_no_prometheus_when_not_embedded() -> None:
    def external(doc: dict[str, Any]) -> None:
        doc["spec"]["analysis"]["prometheus"] = {"embedded": False, "url": "http://prom:9090"}

    run = variant("perfrun-full.yaml", external)
    assert prometheus(run, context(run)) == []
