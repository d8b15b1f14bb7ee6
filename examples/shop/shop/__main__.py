"""``python3 -m shop serve|worker|migrate`` (the image's entrypoint is ``shop``)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from shop import __version__, api, migrate, worker
from shop.config import ConfigError, from_env
from shop.metrics import Metrics
from shop.regressions import KNOWN, RegressionError

USAGE = f"""usage: shop serve | worker | migrate | regressions   (shop {__version__})

  serve        the HTTP API on $SHOP_PORT (8080), metrics on $SHOP_METRICS_PORT (9100)
  worker       completes queued orders from RabbitMQ; metrics on $SHOP_METRICS_PORT
  migrate      applies the schema migrations to $DATABASE_URL
  regressions  lists the regressions $SHOP_REGRESSIONS can switch on
"""

NEEDS = {
    "serve": ("DATABASE_URL", "REDIS_URL", "AMQP_URL"),
    "worker": ("DATABASE_URL", "AMQP_URL"),
    "migrate": ("DATABASE_URL",),
}


async def _until_signalled(main: str) -> None:
    cfg = from_env(os.environ, need=NEEDS[main])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    metrics = Metrics()
    metrics.declare(cfg.queue)
    for name in KNOWN:
        metrics.regression.labels(name).set(1 if name in cfg.regressions else 0)
    if main == "serve":
        await api.serve(cfg, metrics, stop)
    else:
        await worker.run(cfg, metrics, stop)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in (*NEEDS, "regressions"):
        print(USAGE, file=sys.stderr)
        return 2
    command = argv[0]
    try:
        if command == "regressions":
            for name, what in KNOWN.items():
                print(f"{name:18} {what}")
            return 0
        if command == "migrate":
            migrate.migrate(from_env(os.environ, need=NEEDS["migrate"]))
            return 0
        asyncio.run(_until_signalled(command))
    except (ConfigError, RegressionError) as exc:
        print(f"shop {command}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
