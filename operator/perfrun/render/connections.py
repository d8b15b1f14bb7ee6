"""How the run's pods reach its components: hosts, users, deterministic passwords, URLs, and
the one Secret (`perfrun-connections`) that carries them to every workload and Job.

Passwords are derived from the PerfRun's uid (and the operator's secret seed) with sha256, so
rendering again -- after an operator restart -- gives byte-identical Secrets and servers that
still accept the credentials they were initialised with."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from urllib.parse import quote

from perfrun.api import PerfRun
from perfrun.api.environment import Component, ComponentKind
from perfrun.render.context import RunContext
from perfrun.render.meta import Manifest, env_key, obj

SECRET_NAME = "perfrun-connections"
DEFAULT_DATABASE = "app"
USER = "perfrun"
PORTS = {ComponentKind.POSTGRES: 5432, ComponentKind.REDIS: 6379, ComponentKind.RABBITMQ: 5672}


@dataclass(frozen=True)
class Connection:
    """One component as a client sees it (host is its ClusterIP Service's name)."""

    name: str
    kind: ComponentKind
    host: str
    port: int
    user: str
    password: str
    database: str | None

    @property
    def prefix(self) -> str:
        return env_key(self.name)

    @property
    def password_key(self) -> str:
        """The Secret key the component's own pod reads its password from."""
        return f"{self.prefix}_PASSWORD"

    @property
    def url_key(self) -> str:
        return f"{self.prefix}_URL"

    @property
    def url(self) -> str:
        pw = quote(self.password, safe="")
        if self.kind == ComponentKind.POSTGRES:
            return f"postgresql://{self.user}:{pw}@{self.host}:{self.port}/{self.database}"
        if self.kind == ComponentKind.REDIS:
            return f"redis://:{pw}@{self.host}:{self.port}/0"
        return f"amqp://{self.user}:{pw}@{self.host}:{self.port}/%2F"


def password(ctx: RunContext, component: str) -> str:
    digest = hashlib.sha256(f"{ctx.secret_seed}\0{ctx.uid}\0{component}".encode()).hexdigest()
    return digest[:32]


def database_of(run: PerfRun, component: Component) -> str | None:
    """The database a postgres component creates: the dataset's, when it fills this one."""
    if component.kind != ComponentKind.POSTGRES:
        return None
    dataset = run.spec.dataset
    if dataset is not None and dataset.into == component.name:
        return dataset.database
    return DEFAULT_DATABASE


def connection(run: PerfRun, ctx: RunContext, component: Component) -> Connection:
    kind = ComponentKind(component.kind)
    return Connection(
        name=component.name,
        kind=kind,
        host=component.name,
        port=PORTS[kind],
        user="default" if kind == ComponentKind.REDIS else USER,
        password=password(ctx, component.name),
        database=database_of(run, component),
    )


def connections(run: PerfRun, ctx: RunContext) -> list[Connection]:
    return [connection(run, ctx, c) for c in run.spec.environment.components]


def env_values(run: PerfRun, ctx: RunContext) -> dict[str, str]:
    """Every key of the Secret. Per component ``<NAME>_URL/_HOST/_PORT/_USER/_PASSWORD``
    (postgres also ``_DATABASE``); then the conventional names for the first component of
    each kind (``DATABASE_URL`` and ``PG*``, ``REDIS_URL``, ``AMQP_URL``), which win a clash."""
    out: dict[str, str] = {}
    for c in connections(run, ctx):
        out[c.url_key] = c.url
        out[f"{c.prefix}_HOST"] = c.host
        out[f"{c.prefix}_PORT"] = str(c.port)
        out[f"{c.prefix}_USER"] = c.user
        out[c.password_key] = c.password
        if c.database:
            out[f"{c.prefix}_DATABASE"] = c.database
    generic: dict[str, str] = {}
    for c in reversed(connections(run, ctx)):  # reversed: the first of a kind wins
        if c.kind == ComponentKind.POSTGRES:
            generic.update(
                DATABASE_URL=c.url,
                PGHOST=c.host,
                PGPORT=str(c.port),
                PGUSER=c.user,
                PGPASSWORD=c.password,
                PGDATABASE=c.database or DEFAULT_DATABASE,
            )
        elif c.kind == ComponentKind.REDIS:
            generic["REDIS_URL"] = c.url
        else:
            generic["AMQP_URL"] = c.url
    out.update(sorted(generic.items()))
    return out


def secret(run: PerfRun, ctx: RunContext) -> Manifest:
    """The Secret every workload and Job takes its environment from (``envFrom``)."""
    out = obj("v1", "Secret", ctx, SECRET_NAME, component="connections", role="connections")
    out["type"] = "Opaque"
    out["data"] = {
        k: base64.b64encode(v.encode()).decode() for k, v in env_values(run, ctx).items()
    }
    return out


def env_from() -> list[dict[str, object]]:
    return [{"secretRef": {"name": SECRET_NAME}}]


def secret_env(name: str, key: str) -> dict[str, object]:
    """An env var read from one key of the connections Secret."""
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": SECRET_NAME, "key": key}}}
