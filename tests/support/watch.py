"""Record every change the API server reports for a selection of objects, for the length of
a test: "exactly one namespace and one load Job were ever created" is a question about
history, which a LIST at the end cannot answer."""

from __future__ import annotations

import json
import subprocess
import threading
from types import TracebackType
from typing import Any

from tests.support.cluster import KubeCluster
from tests.support.waiting import poll_until


class KubeWatch:
    """``kubectl get ARGS --watch -o json --output-watch-events`` in a thread, as a context
    manager; ``events`` holds (type, object) pairs in arrival order."""

    def __init__(self, cluster: KubeCluster, *args: str) -> None:
        self.cmd = [
            str(cluster.bin_dir / "kubectl"),
            "--kubeconfig",
            str(cluster.kubeconfig),
            "get",
            *args,
            "--watch",
            "--output-watch-events",
            "-o",
            "json",
        ]
        self.env = cluster.env
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> KubeWatch:
        self._proc = subprocess.Popen(
            self.cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=self.env
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        decoder = json.JSONDecoder()
        buffer = ""
        for line in self._proc.stdout:
            buffer += line
            while True:
                text = buffer.lstrip()
                if not text:
                    buffer = ""
                    break
                try:
                    event, end = decoder.raw_decode(text)
                except json.JSONDecodeError:
                    break  # an incomplete document: read more
                buffer = text[end:]
                with self._lock:
                    self.events.append((event["type"], event["object"]))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def caught_up(self, obj: dict[str, Any], timeout: float = 30) -> None:
        """Wait until the watch has delivered the change that produced ``obj`` (a GET's
        answer): a watch lags a GET, and the test's last look must not race it."""
        version = obj["metadata"]["resourceVersion"]
        poll_until(
            lambda: any(o["metadata"].get("resourceVersion") == version for o in self.objects()),
            timeout=timeout,
            what=f"the watch ({' '.join(self.cmd[4:-4])}) to reach resourceVersion {version}",
        )

    def objects(self) -> list[dict[str, Any]]:
        with self._lock:
            return [obj for _, obj in self.events]

    def uids(self, name: str | None = None) -> set[str]:
        """Uids of every object seen (with ``name``, only objects of that name)."""
        return {
            o["metadata"]["uid"]
            for o in self.objects()
            if name is None or o["metadata"]["name"] == name
        }

    def values(self, path: tuple[str, ...]) -> list[Any]:
        """A field of every object seen, in order, consecutive repeats dropped."""
        out: list[Any] = []
        for obj in self.objects():
            value: Any = obj
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if value is not None and (not out or out[-1] != value):
                out.append(value)
        return out
