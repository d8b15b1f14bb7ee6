"""Each image built by e2e/images.sh, run for real by runc in the pod a run renders for it
(its env, args, mounts and user, with the local image map), probed with the pod's own
readiness probe and used by a real client."""

from __future__ import annotations

import copy
import json
import re
import shlex
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
from tests.images.pods import container_env, probe_command, run_container, secret_data
from tests.images.runc import Container, Image, Netns, container, netns, run_once
from tests.support.waiting import poll_until

from perfrun.render.meta import Manifest

pytestmark = [pytest.mark.images, pytest.mark.timeout(3600)]


def template(manifests: list[Manifest], kind: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name
    )
    return found["spec"]["template"]  # type: ignore[no-any-return]


def spec_of(pod: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in pod["spec"]["containers"] if c["name"] == name)
    return found


def ready(c: Container, ns: Netns, spec: dict[str, Any], timeout: float = 120) -> None:
    """Until the container's own readiness probe passes (it must keep running meanwhile)."""
    command = probe_command(spec)

    def check() -> bool:
        assert c.state() == "running", f"{c.id} stopped:\n{c.logs()[-3000:]}"
        done = c.exec(*command) if "exec" in spec["readinessProbe"] else ns.run(*command)
        return done.returncode == 0

    try:
        poll_until(check, timeout=timeout, interval=1, what=f"{c.id} ready")
    except AssertionError:
        print(c.logs()[-5000:])
        raise


def http(ns: Netns, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return ns.run("curl", "-sS", "--max-time", "10", *extra, url)


def test_the_map_names_the_local_images(
    rendered: list[Manifest], built_images: dict[str, Image]
) -> None:
    refs = {n: i.reference for n, i in built_images.items()}
    assert spec_of(template(rendered, "StatefulSet", "db"), "postgres")["image"] == refs["postgres"]
    assert (
        spec_of(template(rendered, "StatefulSet", "db"), "exporter")["image"]
        == (refs["postgres-exporter"])
    )
    assert spec_of(template(rendered, "Deployment", "cache"), "redis")["image"] == refs["redis"]
    assert (
        spec_of(template(rendered, "Deployment", "cache"), "exporter")["image"]
        == (refs["redis-exporter"])
    )
    assert (
        spec_of(template(rendered, "StatefulSet", "queue"), "rabbitmq")["image"]
        == (refs["rabbitmq"])
    )
    prometheus = template(rendered, "Deployment", "prometheus")
    assert spec_of(prometheus, "prometheus")["image"] == refs["prometheus"]
    assert spec_of(template(rendered, "Job", "load"), "load")["image"] == refs["perfrun"]


def test_postgres_creates_the_database_and_takes_the_password(
    rendered: list[Manifest], built_images: dict[str, Image], bundles: Path, tmp_path: Path
) -> None:
    pod = template(rendered, "StatefulSet", "db")
    spec = spec_of(pod, "postgres")
    env = container_env(spec, secret_data(rendered))
    user, password, database = env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]
    assert database != "postgres"  # so the entrypoint really created it
    with (
        netns() as ns,
        run_container(
            pod, "postgres", built_images["postgres"], rendered, ns, bundles, tmp_path
        ) as pg,
    ):
        ready(pg, ns, spec)  # pg_isready, as the pod's probe runs it
        url = f"postgresql://{user}:{password}@127.0.0.1:5432/{database}"
        sql = "select current_database(), current_user, current_setting('max_connections')"
        got = ns.run("psql", url, "-XAtc", sql)
        assert got.returncode == 0, got.stderr
        assert got.stdout.strip() == f"{database}|{user}|42"
        wrong = ns.run("psql", url.replace(password, "wrong"), "-XAtc", "select 1")
        assert wrong.returncode != 0
        assert "password authentication failed" in wrong.stderr
        uid = pg.exec("id", "-u")
        assert uid.stdout.strip() == "999"

        exporter = spec_of(pod, "exporter")
        with run_container(
            pod, "exporter", built_images["postgres-exporter"], rendered, ns, bundles, tmp_path
        ) as ex:
            ready(ex, ns, exporter)
            metrics = poll_until(
                lambda: "pg_up 1" in (m := http(ns, "http://127.0.0.1:9187/metrics").stdout) and m,
                timeout=30,
                what="postgres-exporter pg_up 1",
            )
            assert re.search(r"^pg_settings_max_connections(\{[^}]*\})? 42$", metrics, re.M), (
                metrics
            )


def test_redis_takes_its_settings_as_args(
    rendered: list[Manifest], built_images: dict[str, Image], bundles: Path, tmp_path: Path
) -> None:
    pod = template(rendered, "Deployment", "cache")
    spec = spec_of(pod, "redis")
    password = container_env(spec, secret_data(rendered))["REDIS_PASSWORD"]
    with (
        netns() as ns,
        run_container(pod, "redis", built_images["redis"], rendered, ns, bundles, tmp_path) as r,
    ):
        ready(r, ns, spec)  # redis-cli ping | grep PONG inside the container
        cli = ["redis-cli", "-h", "127.0.0.1", "--no-auth-warning"]
        assert ns.run(*cli, "-a", password, "PING").stdout.strip() == "PONG"
        got = ns.run(*cli, "-a", password, "CONFIG", "GET", "maxmemory").stdout.split()
        assert got == ["maxmemory", str(64 * 1024 * 1024)]
        assert "NOAUTH" in ns.run(*cli, "PING").stdout

        exporter = spec_of(pod, "exporter")
        with run_container(
            pod, "exporter", built_images["redis-exporter"], rendered, ns, bundles, tmp_path
        ) as ex:
            ready(ex, ns, exporter)
            poll_until(
                lambda: "redis_up 1" in http(ns, "http://127.0.0.1:9121/metrics").stdout,
                timeout=30,
                what="redis-exporter redis_up 1",
            )


def test_rabbitmq_management_api_and_metrics(
    rendered: list[Manifest], built_images: dict[str, Image], bundles: Path, tmp_path: Path
) -> None:
    pod = template(rendered, "StatefulSet", "queue")
    spec = spec_of(pod, "rabbitmq")
    env = container_env(spec, secret_data(rendered))
    user, password = env["RABBITMQ_DEFAULT_USER"], env["RABBITMQ_DEFAULT_PASS"]
    with (
        netns() as ns,
        run_container(
            pod, "rabbitmq", built_images["rabbitmq"], rendered, ns, bundles, tmp_path
        ) as mq,
    ):
        ready(mq, ns, spec, timeout=180)
        api = "http://127.0.0.1:15672/api"
        auth = ("-u", f"{user}:{password}")
        overview = poll_until(
            lambda: (o := http(ns, f"{api}/overview", "-f", *auth)).returncode == 0 and o.stdout,
            timeout=60,
            what="management API",
        )
        version = built_images["rabbitmq"].reference.rsplit(":", 1)[1]
        assert json.loads(overview)["rabbitmq_version"].startswith(version + ".")
        assert http(ns, f"{api}/overview", "-f", "-u", f"{user}:wrong").returncode != 0
        put = http(
            ns, f"{api}/queues/%2F/orders", "-f", *auth, "-X", "PUT", "-H",
            "content-type: application/json", "-d", '{"durable": true}',
        )  # fmt: skip
        assert put.returncode == 0, put.stderr
        # per-object metrics are on (the renderer's rabbitmq.conf), so the queue is there
        poll_until(
            lambda: 'queue="orders"' in http(ns, "http://127.0.0.1:15692/metrics").stdout,
            timeout=30,
            what="rabbitmq_queue_messages{queue=orders} on /metrics",
        )


def test_prometheus_is_ready_and_scrapes_a_target(
    rendered: list[Manifest], built_images: dict[str, Image], bundles: Path, tmp_path: Path
) -> None:
    """The run's Prometheus pod with a static scrape of the redis exporter beside it (the
    rendered config discovers pods through the API server, which this test has not)."""
    rendered = copy.deepcopy(rendered)
    cache = template(rendered, "Deployment", "cache")
    pod = template(rendered, "Deployment", "prometheus")
    spec = spec_of(pod, "prometheus")
    config_map = next(
        m
        for m in rendered
        if m["kind"] == "ConfigMap" and m["metadata"]["name"] == "prometheus-config"
    )
    static = {
        "global": {"scrape_interval": "2s"},
        "scrape_configs": [
            {"job_name": "redis", "static_configs": [{"targets": ["127.0.0.1:9121"]}]}
        ],
    }
    config_map["data"] = {**config_map["data"], "prometheus.yml": json.dumps(static)}
    images = built_images
    with (
        netns() as ns,
        run_container(cache, "redis", images["redis"], rendered, ns, bundles, tmp_path),
        run_container(cache, "exporter", images["redis-exporter"], rendered, ns, bundles, tmp_path),
        run_container(
            pod, "prometheus", images["prometheus"], rendered, ns, bundles, tmp_path
        ) as prom,
    ):
        ready(prom, ns, spec)  # GET /-/ready
        query = "http://127.0.0.1:9090/api/v1/query?query=redis_up"

        def scraped() -> bool:
            result = json.loads(http(ns, query).stdout or "{}").get("data", {}).get("result", [])
            return any(r["value"][1] == "1" for r in result)

        poll_until(scraped, timeout=60, interval=1, what="prometheus scraped redis_up == 1")


def test_nginx_serves(built_images: dict[str, Image], bundles: Path, tmp_path: Path) -> None:
    with netns() as ns, container(built_images["nginx"], bundles, tmp_path, ns) as web:
        got = poll_until(
            lambda: (r := http(ns, "http://127.0.0.1:80/", "-f")).returncode == 0 and r.stdout,
            timeout=30,
            what="nginx on :80",
        )
        assert "nginx serves." in got
        assert web.exec("id", "-u").stdout.strip() == "101"
        missing = http(ns, "http://127.0.0.1:80/missing", "-o", "/dev/null", "-w", "%{http_code}")
        assert missing.stdout == "404"
        assert "GET / HTTP/1.1" in web.logs()


def test_perfrun_runs_as_its_user_on_a_read_only_root(
    rendered: list[Manifest], built_images: dict[str, Image], bundles: Path, tmp_path: Path
) -> None:
    load = spec_of(template(rendered, "Job", "load"), "load")
    assert load["securityContext"]["readOnlyRootFilesystem"] is True
    uid = load["securityContext"]["runAsUser"]
    commands = {
        "perfrun --version": "0.1.0",
        "pg_restore --version": "pg_restore (PostgreSQL) 17.",
        "psql --version": "psql (PostgreSQL) 17.",
        "id -u": str(uid),
        "perfrun load --help": "usage: perfrun load",
        "perfrun seed --help": "usage: perfrun seed",
        "perfrun restore --help": "usage: perfrun restore",
        "perfrun analyze --help": "usage: perfrun analyze",
        "perfrun report --help": "usage: perfrun report",
        "perfrun operator --help": "usage: perfrun operator",
        "python3 -c 'import perfrun.kube.client as c; print(c.__name__)'": "perfrun.kube.client",
    }
    with netns() as ns:
        for line, expected in commands.items():
            done = run_once(
                built_images["perfrun"],
                bundles,
                tmp_path,
                ns,
                command=shlex.split(line),
                env={"HOME": "/tmp"},
                tmpfs=["/tmp"],
                user=(uid, uid),
                read_only=True,
            )
            assert done.returncode == 0, f"{line}: {done.stderr}"
            assert expected in done.stdout, f"{line}: {done.stdout}"


def test_pause_holds_and_stops_on_sigterm(
    built_images: dict[str, Image], bundles: Path, tmp_path: Path
) -> None:
    with netns() as ns, container(built_images["pause"], bundles, tmp_path, ns) as p:
        assert p.state() == "running"
        assert (
            p.exec("/pause", "--version").stdout.strip()
            == "pause " + (built_images["pause"].reference.rsplit(":", 1)[1])
        )
        subprocess.run(["runc", "--root", "/run/perfrun-test-runc", "kill", p.id, "TERM"])
        poll_until(lambda: p.state() == "stopped", timeout=10, what="pause exits on SIGTERM")


@pytest.mark.parametrize(
    ("name", "command", "pattern"),
    [
        ("postgres", "postgres --version", r"PostgreSQL\) (\d+\.\d+)"),
        ("redis", "redis-server --version", r"v=(\d+\.\d+\.\d+)"),
        ("nginx", "nginx -v", r"nginx/(\d+\.\d+\.\d+)"),
        ("prometheus", "prometheus --version", r"version (\d+\.\d+\.\d+)"),
        ("postgres-exporter", "prometheus-postgres-exporter --version", r"version (\d+\.\d+\.\d+)"),
        ("redis-exporter", "prometheus-redis-exporter --version", r"Exporter v?(\d+\.\d+\.\d+)"),
    ],
)
def test_every_name_of_an_archive_is_the_version_it_holds(
    built_images: dict[str, Image],
    bundles: Path,
    tmp_path: Path,
    name: str,
    command: str,
    pattern: str,
) -> None:
    """The tag and its aliases, as `ctr import` will name them, against the program's own
    --version: each name is a prefix (at a dot) of the version that runs."""
    image = built_images[name]
    with tarfile.open(image.archive) as tar:
        member = tar.extractfile("./index.json")
        assert member is not None
        index = json.load(member)
    names = [m["annotations"]["io.containerd.image.name"] for m in index["manifests"]]
    assert names[0] == image.reference
    with netns() as ns:
        done = run_once(image, bundles, tmp_path, ns, command=shlex.split(command))
    found = re.search(pattern, done.stdout + done.stderr)
    assert found, f"{command}: {done.stdout} {done.stderr}"
    version = found.group(1)
    for ref in names:
        tag = ref.rsplit(":", 1)[1].removeprefix("v")
        assert version == tag or version.startswith(tag + "."), (ref, version)
