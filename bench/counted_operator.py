"""`perfrun operator` with every HTTP request it sends counted at the client, by verb and
resource: the operator's own Kubernetes client (urllib3, also the Prometheus queries through
the API server's service proxy) and kopf's (aiohttp). The counts go to the JSON file named
by ``PERFRUN_BENCH_REQUESTS`` every second and at exit. Nothing of the operator is changed:
the patches only count, then call through.

    python bench/counted_operator.py operator --standalone -n NS
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

_counts: Counter[str] = Counter()
_lock = threading.Lock()


def verb_and_resource(method: str, url: str, params: Any = None) -> tuple[str, str]:
    """The Kubernetes verb (get, list, watch, create, patch, ...) and resource of a request."""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if isinstance(params, dict):
        query.update({str(k): str(v) for k, v in params.items()})
    segments = [s for s in parts.path.split("/") if s]
    if segments[:1] == ["api"]:
        rest = segments[2:]
    elif segments[:1] == ["apis"]:
        rest = segments[3:]
    else:
        return method.lower(), "other"
    if not rest:
        return "discovery", "-"
    if rest[0] == "namespaces" and len(rest) >= 3:
        rest = rest[2:]
    resource = rest[0] + (f"/{rest[2]}" if len(rest) >= 3 else "")
    named = len(rest) >= 2
    method = method.upper()
    if method == "GET":
        if query.get("watch") in ("true", "1"):
            return "watch", resource
        return ("get" if named else "list"), resource
    verbs = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
    return verbs.get(method, method.lower()), resource


def _count(method: str, url: str, params: Any = None) -> None:
    try:
        verb, resource = verb_and_resource(method, url, params)
    except Exception:  # never let counting break a request
        verb, resource = method.lower(), "unparsed"
    with _lock:
        _counts[f"{verb} {resource}"] += 1


def _dump(path: Path) -> None:
    with _lock:
        data = {"time": time.time(), "counts": dict(_counts)}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def install() -> None:
    import aiohttp
    import urllib3.connectionpool

    pool_urlopen = urllib3.connectionpool.HTTPConnectionPool.urlopen

    def urlopen(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        _count(method, url)
        return pool_urlopen(self, method, url, *args, **kwargs)

    urllib3.connectionpool.HTTPConnectionPool.urlopen = urlopen  # type: ignore[method-assign]

    session_request = aiohttp.ClientSession._request

    async def request(self: Any, method: str, str_or_url: Any, **kwargs: Any) -> Any:
        _count(method, str(str_or_url), kwargs.get("params"))
        return await session_request(self, method, str_or_url, **kwargs)

    aiohttp.ClientSession._request = request  # type: ignore[method-assign]

    out = os.environ.get("PERFRUN_BENCH_REQUESTS")
    if out:
        path = Path(out)

        def loop() -> None:
            while True:
                _dump(path)
                time.sleep(1.0)

        threading.Thread(target=loop, name="bench-request-counts", daemon=True).start()
        atexit.register(_dump, path)


if __name__ == "__main__":
    import sys

    install()
    from perfrun.cli import main

    sys.exit(main(sys.argv[1:]))
