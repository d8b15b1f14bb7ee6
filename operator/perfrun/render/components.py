"""The run's backing services (postgres, redis, rabbitmq) and the connections Secret that
tells the application how to reach them. The Secret comes first: pods refer to it."""

from __future__ import annotations

from perfrun.api import PerfRun
from perfrun.api.environment import ComponentKind
from perfrun.api.types import parse_duration
from perfrun.render.connections import secret
from perfrun.render.context import RunContext
from perfrun.render.meta import Manifest
from perfrun.render.postgres import postgres
from perfrun.render.rabbitmq import rabbitmq
from perfrun.render.redis import redis


def ready_timeout_s(run: PerfRun) -> int:
    return max(1, int(parse_duration(run.spec.environment.ready_timeout)))


def components(run: PerfRun, ctx: RunContext) -> list[Manifest]:
    out = [secret(run, ctx)]
    for component in run.spec.environment.components:
        if component.kind == ComponentKind.POSTGRES:
            out += postgres(run, ctx, component)
        elif component.kind == ComponentKind.REDIS:
            out += redis(run, ctx, component, progress_deadline_s=ready_timeout_s(run))
        else:
            out += rabbitmq(run, ctx, component)
    return out
