"""What a person sees of a PerfRun, as a pure function of the object and the time: the
compact progress line (redrawn in place on a terminal, one line per change in a CI log), the
final verdict line, the `perfrun ls` table and the exit code (that of `perfrun analyze`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from perfrun.api.status import TERMINAL_PHASES, Phase, Verdict

# The same codes as `perfrun analyze`: 0 Passed, 1 Failed, 3 Inconclusive; a run that ended
# without a verdict (invalid, expired, aborted, a broken child) failed: 1.
EXIT = {Verdict.PASSED: 0, Verdict.FAILED: 1, Verdict.INCONCLUSIVE: 3}
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_TIMEOUT = 4


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def duration(seconds: float) -> str:
    """``1h02m``, ``4m05s``, ``9s``."""
    s = max(0, int(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    number = float(value)
    return f"{number:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{number:.0f}"


@dataclass(frozen=True)
class View:
    """The fields of the progress display (None: not known yet)."""

    name: str
    phase: str
    step: str | None  # "2/3"
    rate: str | None  # "198.4/200 rps" (or "12/16 users")
    p99: str | None  # "42.1 ms"
    errors: str | None  # "3/1520"
    backed_off: bool
    time_left: str | None
    message: str

    def line(self) -> str:
        """The compact one-line display."""
        parts = [self.name, self.phase]
        if self.step:
            parts.append(f"step {self.step}")
        if self.rate:
            parts.append(self.rate)
        parts.append(f"p99 {self.p99 or '-'}")
        if self.errors:
            parts.append(f"errors {self.errors}")
        if self.backed_off:
            parts.append("backing off")
        if self.time_left:
            parts.append(f"{self.time_left} left")
        return " | ".join(parts)

    def key(self) -> tuple[Any, ...]:
        """What a plain-mode line is printed for: a change of anything but the clock."""
        return (self.phase, self.step, self.rate, self.p99, self.errors, self.backed_off)


def view(obj: dict[str, Any], now: datetime) -> View:
    status = obj.get("status") or {}
    phase = status.get("phase") or Phase.PENDING
    load = status.get("load") or {}
    results = status.get("results") or {}
    step = f"{load['step']}/{load['steps']}" if load.get("steps") else None
    rate = None
    if load.get("targetUsers"):
        rate = f"{_num(load.get('achievedRps'))} rps, {load['targetUsers']} users"
    elif load.get("steps"):
        rate = f"{_num(load.get('achievedRps'))}/{_num(load.get('targetRps'))} rps"
    p99 = results.get("p99Ms")
    if p99 is None:
        p99 = load.get("p99Ms")  # so far, from the load pods
    errors = None
    if load.get("requests") or results.get("requests"):
        requests = results.get("requests") or load.get("requests") or 0
        errors = f"{load.get('errors', 0)}/{requests}"
        if results.get("errorRate") is not None:
            errors = f"{_num(100 * float(results['errorRate']), 2)}% of {requests}"
    left = None
    if phase not in TERMINAL_PHASES and status.get("expiresAt"):
        left = duration((parse_time(status["expiresAt"]) - now).total_seconds())
    return View(
        name=str((obj.get("metadata") or {}).get("name", "?")),
        phase=str(phase),
        step=step,
        rate=rate,
        p99=None if p99 is None else f"{_num(p99)} ms",
        errors=errors,
        backed_off=bool(load.get("backedOff")),
        time_left=left,
        message=str(status.get("message") or ""),
    )


def finished(obj: dict[str, Any]) -> bool:
    """Terminal and judged for the PerfRun's current spec (not an old generation's end)."""
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation")
    if generation is not None and status.get("observedGeneration") != generation:
        return False
    return status.get("phase") in TERMINAL_PHASES


def exit_code(obj: dict[str, Any]) -> int:
    status = obj.get("status") or {}
    verdict = status.get("verdict")
    if status.get("phase") == Phase.SUCCEEDED and verdict in (None, Verdict.PASSED):
        return 0
    if verdict in EXIT and status.get("phase") in (Phase.SUCCEEDED, Phase.FAILED):
        return EXIT[Verdict(verdict)]
    return EXIT_FAILED


def outcome(obj: dict[str, Any]) -> str:
    """The final line: ``NAME: Passed (p99 42 ms, errors 0.1% of 1520): message``."""
    v = view(obj, datetime.now().astimezone())
    status = obj.get("status") or {}
    word = status.get("verdict") or v.phase
    if status.get("verdict") and v.phase not in (Phase.SUCCEEDED, Phase.FAILED):
        word = v.phase
    numbers = [f"p99 {v.p99}" if v.p99 else None, f"errors {v.errors}" if v.errors else None]
    inner = ", ".join(n for n in numbers if n)
    text = f"{v.name}: {word}" + (f" ({inner})" if inner else "")
    return text + (f": {v.message}" if v.message else "")


def age(created: str | None, now: datetime) -> str:
    return duration((now - parse_time(created)).total_seconds()) if created else "-"


def table(objs: list[dict[str, Any]], now: datetime, *, namespaces: bool = False) -> str:
    """`perfrun ls`: NAME PHASE VERDICT P99 ERRORS AGE (NAMESPACE first with -A)."""
    header = ["NAME", "PHASE", "VERDICT", "P99", "ERRORS", "AGE"]
    rows = []
    for obj in sorted(
        objs, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])
    ):
        status = obj.get("status") or {}
        results = status.get("results") or {}
        rate = results.get("errorRate")
        row = [
            obj["metadata"]["name"],
            status.get("phase") or Phase.PENDING,
            status.get("verdict") or "-",
            "-" if results.get("p99Ms") is None else f"{_num(results['p99Ms'])}ms",
            "-" if rate is None else f"{_num(100 * float(rate), 2)}%",
            age(obj["metadata"].get("creationTimestamp"), now),
        ]
        rows.append(([obj["metadata"].get("namespace", "")] if namespaces else []) + row)
    if namespaces:
        header = ["NAMESPACE", *header]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "   ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]
    return "\n".join(lines) + "\n"
