"""The tests' one way to wait for something, to find a free port and this machine's address."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def host_ip() -> str:
    """This machine's non-loopback IPv4 address: the source address of its default route
    (a UDP connect sends nothing), else the first global address ``ip`` lists. Raises when
    there is none: a test that needs it fails with this message instead of being skipped."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 1))
        addr = str(s.getsockname()[0])
        if not addr.startswith("127."):
            return addr
    out = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "scope", "global"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    for line in out.splitlines():
        fields = line.split()
        if "inet" in fields:
            return fields[fields.index("inet") + 1].split("/")[0]
    raise RuntimeError("no non-loopback IPv4 address on this machine (ip -4 addr)")


class PollTimeoutError(AssertionError):
    """A polled condition did not hold before its deadline."""


def poll_until(
    check: Callable[[], T | None],
    *,
    timeout: float = 60.0,
    interval: float = 0.25,
    what: str = "condition",
) -> T:
    """Call ``check`` until it returns something truthy; return that value.

    Raises :class:`PollTimeoutError` (an AssertionError, so pytest shows it as a failure) naming
    ``what`` and the last value seen if the deadline passes.
    """
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise PollTimeoutError(
                f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}"
            )
        time.sleep(interval)
