"""Settings from the environment. The connection URLs are the ones the PerfRun operator puts in
every workload (``DATABASE_URL``, ``REDIS_URL``, ``AMQP_URL``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shop import regressions as _regressions
from shop.regressions import Regressions


class ConfigError(ValueError):
    """A missing or malformed setting (names the variable)."""


@dataclass(frozen=True)
class Config:
    database_url: str
    redis_url: str
    amqp_url: str
    regressions: Regressions
    port: int = 8080
    metrics_port: int = 9100
    host: str = "0.0.0.0"
    queue: str = "orders"
    db_pool_size: int = 10
    cache_ttl_s: int = 300
    page_size: int = 50
    dashboard_projects: int = 500
    worker_prefetch: int = 32
    slow_worker_delay_s: float = 1.0
    hot_row_hold_s: float = 0.2
    lock_timeout: str = "30s"


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{name}: not an integer: {text!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name)
    if text is None or text == "":
        return default
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{name}: not a number: {text!r}") from None


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise ConfigError(f"{name}: not set")
    return value


def from_env(env: Mapping[str, str], *, need: tuple[str, ...] = ()) -> Config:
    """The settings; ``need`` lists the URLs this program cannot run without."""
    for name in need:
        _required(env, name)
    return Config(
        database_url=env.get("DATABASE_URL", ""),
        redis_url=env.get("REDIS_URL", ""),
        amqp_url=env.get("AMQP_URL", ""),
        regressions=_regressions.from_env(env),
        port=_int(env, "SHOP_PORT", 8080),
        metrics_port=_int(env, "SHOP_METRICS_PORT", 9100),
        host=env.get("SHOP_HOST", "0.0.0.0"),
        queue=env.get("SHOP_QUEUE", "orders"),
        db_pool_size=_int(env, "SHOP_DB_POOL", 10),
        cache_ttl_s=_int(env, "SHOP_CACHE_TTL", 300),
        page_size=_int(env, "SHOP_PAGE_SIZE", 50),
        dashboard_projects=_int(env, "SHOP_DASHBOARD_PROJECTS", 500),
        worker_prefetch=_int(env, "SHOP_WORKER_PREFETCH", 32),
        slow_worker_delay_s=_float(env, "SHOP_SLOW_WORKER_DELAY", 1.0),
        hot_row_hold_s=_float(env, "SHOP_HOT_ROW_HOLD", 0.2),
        lock_timeout=env.get("MIGRATE_LOCK_TIMEOUT", "30s"),
    )
