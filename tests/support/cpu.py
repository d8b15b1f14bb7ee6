"""Whether the machine let a test's processes run: Linux's CPU pressure stall information
(``/proc/pressure/cpu``, "some": the share of wall time in which at least one runnable task
waited for a CPU). A latency bound of a few milliseconds is a statement about the code only
when that share was low; on a saturated machine the scheduler alone delays a process by tens of
milliseconds, whatever the code does."""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType

PSI_CPU = Path("/proc/pressure/cpu")


def stalled_us() -> int | None:
    """Microseconds so far in which some task waited for a CPU; None without PSI."""
    try:
        line = PSI_CPU.read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    for field in line.split():
        if field.startswith("total="):
            return int(field.removeprefix("total="))
    return None


class CpuPressure:
    """``with CpuPressure() as p: ...``; then ``p.share``: the share of the block's wall time
    in which some task waited for a CPU (0..1), or None where the kernel does not tell."""

    def __init__(self) -> None:
        self.share: float | None = None
        self._start: tuple[int | None, float] = (None, 0.0)

    def __enter__(self) -> CpuPressure:
        self._start = (stalled_us(), time.monotonic())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stalled0, wall0 = self._start
        stalled, wall = stalled_us(), time.monotonic() - wall0
        if stalled0 is not None and stalled is not None and wall > 0:
            self.share = (stalled - stalled0) / 1e6 / wall
