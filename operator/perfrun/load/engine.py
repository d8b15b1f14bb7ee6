"""The load engine: runs one pod's share of a LoadSpec against the target with aiohttp and
returns its summary. The decisions live in the pure modules (budget, schedule, adaptive,
templates); this file is the asyncio plumbing that applies them.

Budget order for every attempt, retries included: an in-flight slot first, then a rate token
taken at the moment of sending, so a request that waited for a slot can never be counted
against an older second than the one it really went out in."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from perfrun.api.load import LoadSpec
from perfrun.api.types import parse_duration
from perfrun.load import summary as summary_mod
from perfrun.load.adaptive import Controller
from perfrun.load.budget import CreationBudget, Share, rate_limiter
from perfrun.load.metrics import LoadMetrics
from perfrun.load.schedule import Arrivals, Step, level_rate, phase_offset, plan, ramp_end, step_at
from perfrun.load.stats import Recorder
from perfrun.load.templates import (
    AccountPicker,
    CompiledScenario,
    ScenarioPicker,
    Values,
    compile_scenarios,
)

log = logging.getLogger("perfrun.load")

# Answers worth another attempt (the server may recover); other statuses are final.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
RETRY_BACKOFF_S = 0.05
RETRY_BACKOFF_MAX_S = 1.0
# Sleeps shorter than this are skipped: the loop's own latency is of that order.
MIN_SLEEP_S = 0.0002


@dataclass
class _StepCount:
    sent: int = 0


class Engine:
    """One pod's load run. ``stop()`` (e.g. on SIGTERM) ends sending and drains in-flight."""

    def __init__(
        self,
        spec: LoadSpec,
        share: Share,
        *,
        metrics: LoadMetrics | None = None,
        drain_timeout_s: float | None = None,
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec = spec
        self.share = share
        self.metrics = metrics
        self.clock = clock
        self.scenarios = compile_scenarios(spec)
        self.steps: tuple[Step, ...] = plan(spec, share)
        self.request_timeout_s = parse_duration(spec.request_timeout)
        self.drain_timeout_s = (
            self.request_timeout_s if drain_timeout_s is None else drain_timeout_s
        )
        self.rng = random.Random(seed if seed is not None else 0x5EED + share.index)
        self.picker = ScenarioPicker(self.scenarios, self.rng)
        self.accounts = AccountPicker(spec.accounts, self.rng) if spec.accounts else None
        codes = spec.adaptive.back_off_on.status_codes if spec.adaptive else [429, 503]
        self.recorder = Recorder([s.name for s in self.scenarios], frozenset(codes))
        self.controller = Controller(spec.adaptive)
        self.window_s = parse_duration(spec.adaptive.window) if spec.adaptive else 5.0
        self.limiter = rate_limiter(share.max_rps)
        self.creations = CreationBudget(share.max_accounts_per_minute, share.max_rows)
        self.base_url = str(spec.target).rstrip("/")
        self.max_retries = spec.budget.max_retries
        self._step_counts = [_StepCount() for _ in self.steps]
        self._seq = 0
        self._stopping = False
        self._stop_reason = "completed"
        self._stop_event: asyncio.Event | None = None
        self._sem: asyncio.Semaphore | None = None
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._t0 = 0.0
        self._reachable = False
        self._last_error: str | None = None
        self._session: aiohttp.ClientSession | None = None
        if metrics is not None:
            metrics.track_in_flight(lambda: float(self._in_flight))

    # --- public -------------------------------------------------------------------------

    def stop(self, reason: str = "interrupted") -> None:
        """Stop sending new requests; in-flight ones drain (SIGTERM, abort, deadline)."""
        if not self._stopping:
            self._stopping = True
            self._stop_reason = reason
            log.info("stopping: %s", reason)
        if self._stop_event is not None:
            self._stop_event.set()

    async def run(self) -> dict[str, Any]:
        """Run the share to the end (or until stopped) and return the summary."""
        self._stop_event = asyncio.Event()
        if self._stopping:
            self._stop_event.set()
        self._sem = asyncio.Semaphore(self.share.max_in_flight)
        started = datetime.now(UTC)
        self._t0 = self.clock()
        deadline = self.share.max_duration_s
        connector = aiohttp.TCPConnector(
            limit=max(1, self.share.max_in_flight), ttl_dns_cache=300, force_close=False
        )
        timeout = aiohttp.ClientTimeout(total=self.request_timeout_s)
        async with aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            auto_decompress=False,
            skip_auto_headers=("User-Agent",),
            headers={"User-Agent": "perfrun-load"},
        ) as session:
            self._session = session
            windows = asyncio.create_task(self._windows())
            watchdog = asyncio.create_task(self._deadline(deadline))
            try:
                if self.spec.ramp.model == "open":
                    await self._open()
                else:
                    await self._closed()
                await self._drain(deadline)
            finally:
                windows.cancel()
                watchdog.cancel()
                for t in list(self._tasks):
                    t.cancel()
                await asyncio.gather(windows, watchdog, *self._tasks, return_exceptions=True)
        duration = self.clock() - self._t0
        return summary_mod.build(
            recorder=self.recorder,
            pod={
                "index": self.share.index,
                "count": self.share.count,
                "maxRps": self.share.max_rps,
                "maxInFlight": self.share.max_in_flight,
            },
            model=self.spec.ramp.model,
            outcome=self._stop_reason,
            started_at=started.isoformat(),
            ended_at=datetime.now(UTC).isoformat(),
            duration_s=duration,
            steps=self._steps_json(),
            decisions=[d.to_json() for d in self.controller.decisions],
            creations={
                "accounts": self.creations.accounts_created,
                "rows": self.creations.rows_created,
            },
            target={
                "url": self.base_url,
                "reachable": self._reachable,
                "lastError": self._last_error,
            },
        )

    # --- time and budget ----------------------------------------------------------------

    def _now(self) -> float:
        return self.clock() - self._t0

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when the run is stopped."""
        if seconds <= MIN_SLEEP_S:
            return
        if seconds < 0.05 or self._stop_event is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), seconds)

    async def _acquire(self) -> bool:
        """An in-flight slot, then a rate token at the moment of sending. False if stopped
        while waiting (nothing is held then)."""
        assert self._sem is not None
        await self._sem.acquire()
        while True:
            if self._stopping:
                self._sem.release()
                return False
            now = self._now()
            wait = self.limiter.wait_time(now)
            if wait == 0.0:
                self.limiter.try_acquire(now)
                self._in_flight += 1
                return True
            await self._sleep(max(wait or 0.0, MIN_SLEEP_S * 2))

    def _release(self) -> None:
        assert self._sem is not None
        self._in_flight -= 1
        self._sem.release()

    def _level_rate(self, level: int) -> int:
        return level_rate(self.steps, level)

    def _current_rate(self, step: int) -> int:
        return level_rate(self.steps, self.controller.level(step))

    # --- request ------------------------------------------------------------------------

    def _choose(self) -> CompiledScenario | None:
        """The next request's scenario, respecting the creation budget (a creating scenario
        over budget is replaced by a non-creating one, by weight, or skipped)."""
        sc = self.picker.pick()
        spec = sc.spec
        if not (spec.creates_accounts or spec.creates_rows):
            return sc
        if self.creations.try_take(self._now(), spec.creates_accounts, spec.creates_rows):
            return sc
        self.recorder.creation_limited(sc.index)
        return self.picker.pick_non_creating()

    def _values(self) -> Values:
        self._seq += 1
        # Unique across pods: pod i of N numbers i, i+N, i+2N, ...
        seq = self.share.index + self.share.count * (self._seq - 1)
        account = self.accounts.pick() if self.accounts is not None else None
        return Values(account=account, seq=seq)

    async def _attempt(
        self, sc: CompiledScenario, path: str, body: bytes | None
    ) -> tuple[int | None, str | None]:
        """One HTTP exchange: (status, None) or (None, error kind)."""
        assert self._session is not None
        try:
            async with self._session.request(
                sc.method, self.base_url + path, data=body, headers=sc.headers
            ) as resp:
                await resp.read()
                self._reachable = True
                return resp.status, None
        except TimeoutError:
            self._last_error = f"timeout after {self.spec.request_timeout}"
            return None, "timeout"
        except aiohttp.ClientConnectorError as exc:
            self._last_error = f"connect: {exc}"
            return None, "connect"
        except aiohttp.ServerDisconnectedError as exc:
            self._last_error = f"disconnected: {exc}"
            return None, "disconnected"
        except aiohttp.ClientError as exc:
            self._last_error = f"{type(exc).__name__}: {exc}"
            return None, "transport"

    async def _request(self, sc: CompiledScenario, intended: float, step: int | None) -> None:
        """One logical request with its retries; holds a slot (taken by the caller) for the
        first attempt. Latency runs from ``intended`` to the last answer."""
        values = self._values()
        path = sc.render_path(values)
        body = sc.render_body(values)
        status: int | None = None
        attempt = 0
        try:
            while True:
                if step is not None:
                    self._step_counts[step].sent += 1
                try:
                    status, error = await self._attempt(sc, path, body)
                finally:
                    self._release()
                self.recorder.attempt(sc.index, status, error, retry=attempt > 0)
                if self.metrics is not None:
                    self.metrics.attempt(sc.index, status)
                retry = status is None or status in RETRY_STATUSES
                if not retry or attempt >= self.max_retries or self._stopping:
                    break
                if self._now() >= ramp_end(self.steps):
                    break  # the ramp is over: no new attempts, only the drain
                attempt += 1
                backoff = min(RETRY_BACKOFF_S * 2 ** (attempt - 1), RETRY_BACKOFF_MAX_S)
                await self._sleep(backoff * (0.5 + self.rng.random()))
                if self._stopping or not self._retry_creation_ok(sc):
                    break
                if not await self._acquire():
                    break
                step = step_at(self.steps, self._now())
        except asyncio.CancelledError:
            self.recorder.incomplete(sc.index, "cancelled")
            raise
        latency = self._now() - intended
        ok = status is not None and sc.ok(status)
        self.recorder.complete(sc.index, latency, ok)
        if self.metrics is not None:
            self.metrics.completed(sc.index, status, latency)

    def _retry_creation_ok(self, sc: CompiledScenario) -> bool:
        spec = sc.spec
        if not (spec.creates_accounts or spec.creates_rows):
            return True
        if self.creations.try_take(self._now(), spec.creates_accounts, spec.creates_rows):
            return True
        self.recorder.creation_limited(sc.index)
        return False

    def _spawn(self, sc: CompiledScenario, intended: float, step: int | None) -> None:
        task = asyncio.get_running_loop().create_task(self._request(sc, intended, step))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- models -------------------------------------------------------------------------

    async def _open(self) -> None:
        """Arrival-rate model: request k is due at its slot whatever the server does; if the
        budget holds it back, its latency still counts from the slot."""
        if not self.steps:
            return
        slots = Arrivals(
            phase_offset(self.share.index, self.share.count, max(1, self.steps[0].rate))
        )
        t = slots.next(max(1, self.steps[0].rate))
        end = ramp_end(self.steps)
        while not self._stopping:
            step = step_at(self.steps, t)
            if step is None:
                break
            rate = self._current_rate(step)
            if rate <= 0:
                slots.jump(self.steps[step].end)
                t = self.steps[step].end
                continue
            t = slots.next(rate)
            if step_at(self.steps, t) != step:
                continue
            now = self._now()
            if t > now:
                await self._sleep(t - now)
                if self._stopping:
                    break
            if self.controller.aborted:
                break
            sc = self._choose()
            slots.advance()
            if sc is None:
                t = slots.next(rate)
                continue
            if not await self._acquire():
                self.recorder.dropped += 1
                break
            # A send a hair early (sleeps under MIN_SLEEP_S are skipped) counts from the send.
            self._spawn(sc, min(t, self._now()), step)
            t = slots.next(rate)
        # Slots that were due but never went out (stopped, or the budget held them back).
        now = min(self._now(), end)
        while t < now:
            step = step_at(self.steps, t)
            if step is None:
                break
            rate = self._current_rate(step)
            if rate <= 0:
                slots.jump(self.steps[step].end)
                t = self.steps[step].end
                continue
            self.recorder.dropped += 1
            slots.advance()
            t = slots.next(rate)

    async def _closed(self) -> None:
        """Virtual users: each sends, waits for the answer, thinks, sends again. The number of
        users follows the ramp (and the back-off)."""
        think = parse_duration(self.spec.ramp.think_time)
        users: dict[int, asyncio.Task[None]] = {}
        wanted = 0

        async def user(k: int) -> None:
            while not self._stopping and k < wanted:
                intended = self._now()
                sc = self._choose()
                if sc is None:
                    await self._sleep(max(think, 0.01))
                    continue
                if not await self._acquire():
                    break
                await self._request(sc, intended, step_at(self.steps, self._now()))
                if think:
                    await self._sleep(think)

        while not self._stopping and not self.controller.aborted:
            step = step_at(self.steps, self._now())
            if step is None:
                break
            wanted = self._current_rate(step)
            for k in range(wanted):
                task = users.get(k)
                if task is None or task.done():
                    task = asyncio.get_running_loop().create_task(user(k))
                    users[k] = task
                    # In the task set: the drain waits for them and the deadline cancels them.
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            await self._sleep(min(0.05, max(0.0, self.steps[step].end - self._now())) or 0.001)
        wanted = 0

    # --- background ---------------------------------------------------------------------

    async def _drain(self, deadline: float) -> None:
        """Let in-flight requests finish, up to the drain timeout and never past maxDuration."""
        if not self._tasks:
            return
        limit = min(self.drain_timeout_s, max(0.0, deadline - self._now()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*self._tasks, return_exceptions=True), timeout=limit
            )

    async def _deadline(self, deadline: float) -> None:
        """maxDuration is a hard wall: stop sending and cancel what is still out."""
        await asyncio.sleep(max(0.0, deadline - self._now()))
        self.stop("deadline")
        for t in list(self._tasks):
            t.cancel()

    async def _windows(self) -> None:
        """Every window: read the signals, let the controller decide, log and apply."""
        start = 0.0
        while True:
            await asyncio.sleep(max(0.0, start + self.window_s - self._now()))
            end = self._now()
            signals = self.recorder.take_window(start, end)
            step = step_at(self.steps, end)
            if step is not None:
                if self.metrics is not None:
                    self.metrics.step.set(step)
                decision = self.controller.observe(signals, step, self._level_rate)
                if decision is not None:
                    log.warning("%s", decision.log_line())
                    if self.metrics is not None:
                        self.metrics.decisions.labels(decision.action).inc()
                        self.metrics.backed_off.set(1)
                    if decision.action == "abort":
                        self.stop("aborted")
                if self.metrics is not None:
                    self.metrics.target_rate.set(self._current_rate(step))
            start = end

    def _steps_json(self) -> list[dict[str, Any]]:
        out = []
        for s, c in zip(self.steps, self._step_counts, strict=True):
            held = s.end - s.start
            out.append(
                {
                    "step": s.index,
                    "rate": s.rate,
                    "startSeconds": round(s.start, 3),
                    "endSeconds": round(s.end, 3),
                    "sent": c.sent,
                    "sentPerSecond": round(c.sent / held, 3) if held > 0 else 0.0,
                }
            )
        return out
