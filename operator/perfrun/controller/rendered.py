"""A run's rendered environment, kept between its reconciles.

Rendering is pure (spec and context in, manifests out) but not cheap: ~4-7 ms of CPU for a
minimal run, mostly YAML dumps of configs and Job specs, paid at every reconcile of a run that
is not finished. At 200 runs that was a quarter of the operator's CPU (bench/operator_scale.py,
py-spy). The spec changes only with ``metadata.generation``, the context with the operator's
settings or the API server's endpoints: both are in the key, so a changed spec or context
renders again. Callers get their own copy (a reconcile may not change the kept one)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from perfrun.api.jsoncopy import json_copy
from perfrun.render.context import RunContext

Manifests = list[dict[str, Any]]
DEFAULT_SIZE = 1024  # runs kept; a minimal run's environment is ~40 KiB


class Rendered:
    """Least recently used renders, by (uid, generation, context)."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._size = size
        self._kept: OrderedDict[tuple[str, int, str], Manifests] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def get(
        self, generation: object, ctx: RunContext, render: Callable[[], Manifests]
    ) -> Manifests:
        """``render()``'s result for this generation of the run's spec and this context: kept
        from an earlier call, else rendered now (and kept). No generation (an object the API
        server did not store): rendered every time."""
        if not isinstance(generation, int) or isinstance(generation, bool):
            return render()
        key = (ctx.uid, generation, repr(ctx))
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
                self.hits += 1
        if kept is None:
            kept = render()
            with self._lock:
                self._kept[key] = kept
                self._kept.move_to_end(key)
                while len(self._kept) > self._size:
                    self._kept.popitem(last=False)
        return json_copy(kept)

    def forget(self, uid: str) -> None:
        """Drop a deleted run's renders."""
        with self._lock:
            for key in [k for k in self._kept if k[0] == uid]:
                del self._kept[key]
