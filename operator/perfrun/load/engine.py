"""The load engine: runs one pod's share of a LoadSpec against the target (with the client in
``perfrun.load.http``) and returns its summary. The decisions live in the pure modules
(budget, schedule, adaptive, templates); this file is the asyncio plumbing that applies them.

Budget order for every attempt, retries included: an in-flight slot first, then a rate token
taken at the moment of sending, so a request that waited for a slot can never be counted
against an older second than the one it really went out in.

The per-request path is kept lean on purpose (see ``bench/load_throughput.py``): requests are
prepared bytes, the slot and the token are taken without awaiting when they are free, the
recorder bumps integers and appends the latency, and histograms and metrics are updated in
bulk off the hot path. The open model's first attempt is not a task: it goes out on an idle
connection from the send loop and its answer is recorded by a callback from the protocol
(:meth:`Engine._answered`); only a request that needs more (a new connection, a retry) becomes
a task running :meth:`Engine._request`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import resource
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from perfrun.api.load import LoadSpec
from perfrun.api.types import parse_duration
from perfrun.load import summary as summary_mod
from perfrun.load.adaptive import Controller
from perfrun.load.budget import CreationBudget, Share, rate_limiter, sustained_rps
from perfrun.load.http import Client, HttpError, RequestBytes, parse_origin
from perfrun.load.ledger import StepLedger
from perfrun.load.metrics import LoadMetrics
from perfrun.load.progress import Counters
from perfrun.load.schedule import Arrivals, Step, phase_offset, plan, ramp_end, step_at
from perfrun.load.slots import Slots
from perfrun.load.stats import Recorder
from perfrun.load.templates import (
    AccountPicker,
    CompiledScenario,
    ScenarioPicker,
    Values,
    compile_scenarios,
)

log = logging.getLogger("perfrun.load")

_NO_VALUES = Values(account=None, seq=0)  # for scenarios whose path and body are fixed

# Answers worth another attempt (the server may recover); other statuses are final.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
RETRY_BACKOFF_S = 0.05
RETRY_BACKOFF_MAX_S = 1.0
# Sleeps shorter than this only yield to the loop once: the loop's own latency is of that order.
MIN_SLEEP_S = 0.0002
# How often pending latencies go into the histograms and the metrics (a scrape lags by this).
# Often, so each flush is short (at 40k req/s a flush a second held the loop for ~5 ms, which
# showed in the p99).
FLUSH_S = 0.1
# The open model sends every slot due within this much of now when it wakes: the loop's timers
# have a resolution of 1 ms (uvloop rounds a delay to whole milliseconds), so a sleep to the
# exact slot is often up to a millisecond late, and that lateness would be latency. A slot
# sent early counts its latency from the send. Sends are never early by more than this.
EARLY_S = 0.001
# The open model yields to the loop after this many sends in a row (when behind), so answers
# are read while it catches up.
BATCH = 64
# Connections are opened ahead of the load for at most this long (see ``_warm_connections``).
WARM_S = 1.0


def process_cpu_s() -> float:
    """CPU seconds (user + system) this process has used: the load generator's own cost."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _pending(waiter: asyncio.Future[None]) -> bool:
    return not waiter.done()


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
        self.recorder = Recorder([s.name for s in self.scenarios], frozenset(codes), metrics)
        self.controller = Controller(spec.adaptive)
        self.window_s = parse_duration(spec.adaptive.window) if spec.adaptive else 5.0
        self.limiter = rate_limiter(share.max_rps)
        self.creations = CreationBudget(share.max_accounts_per_minute, share.max_rows)
        self.base_url = str(spec.target).rstrip("/")
        self.origin = parse_origin(self.base_url)
        self.max_retries = spec.budget.max_retries
        self._ramp_end = ramp_end(self.steps)
        # Each scenario's request bytes: made once when path and body are fixed.
        self._makers = [RequestBytes(self.origin, sc.method, sc.headers) for sc in self.scenarios]
        self._fixed: list[bytes | None] = [
            m.build(sc.render_path(_NO_VALUES), sc.render_body(_NO_VALUES)) if sc.fixed else None
            for m, sc in zip(self._makers, self.scenarios, strict=True)
        ]
        self._step_sent = [0] * len(self.steps)
        self._cpu0 = 0.0
        self.max_lateness_s = parse_duration(spec.ramp.max_lateness)
        self._ledger = StepLedger(len(self.steps), late_s=self.max_lateness_s / 10)
        self._pace_cap = sustained_rps(share.max_rps)
        self._seq = 0
        self._stopping = False
        self._stop_reason = "completed"
        self._stop_event: asyncio.Event | None = None
        # In-flight slots: held from before the rate token until the answer; waiters in order.
        self._slots: Slots[asyncio.Future[None]] = Slots(share.max_in_flight)
        # Waiters for a rate token, first in first out (True: granted, False: stopped), and
        # the timer that hands the next token to the oldest when the window admits it.
        self._token_waiters: deque[asyncio.Future[bool]] = deque()
        self._token_timer: asyncio.TimerHandle | None = None
        self._in_flight = 0  # slots whose request went out
        self._tasks: set[asyncio.Task[None]] = set()
        # The open model's first attempts out on a connection with a callback, not a task
        # (see ``_fire``); the drain waits for them too, and they end "cancelled" at the end.
        self._outstanding = 0
        self._drained: asyncio.Future[None] | None = None
        self._cancelling = False
        self._t0 = 0.0
        self._started = False
        self._reachable = False
        self._last_error: str | None = None
        self._client = Client(self.origin, self.request_timeout_s)
        self._on_answer = self._answered  # one bound method for every callback
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
        while self._token_waiters:
            waiter = self._token_waiters.popleft()
            if not waiter.done():
                waiter.set_result(False)

    def counters(self) -> Counters:
        """Where the run is now, for a progress report (cheap; off the hot path)."""
        started = self._started
        now = self._now() if started else 0.0
        step = step_at(self.steps, now) if started else None
        if step is None and started and self.steps:  # the ramp is over: its last step
            step = self.steps[-1].index
        rate = 0.0 if step is None or self._stopping else self._current_rate(step)
        requests, errors = self.recorder.totals()
        c = self.controller
        open_model = self.spec.ramp.model == "open"
        return Counters(
            at=now,
            step=0 if step is None else step + 1,
            steps=len(self.steps),
            target_rps=float(rate) if open_model else 0.0,
            target_users=0 if open_model else round(rate),
            in_flight=self._in_flight,
            backed_off=c.backed_off,
            requests=requests,
            errors=errors,
            dropped=self.recorder.dropped,
            cpu_s=process_cpu_s() - self._cpu0,
            p99_ms=self.recorder.p99_ms(),
        )

    async def run(self, gate: Callable[[], Awaitable[None]] | None = None) -> dict[str, Any]:
        """Run the share to the end (or until stopped) and return the summary. ``gate``, if
        given, is awaited once the connections are open and before the clock starts (a pod's
        processes start together)."""
        self._stop_event = asyncio.Event()
        if self._stopping:
            self._stop_event.set()
        self._client.start()
        await self._client.warm(self._warm_connections(), min(WARM_S, self.request_timeout_s))
        if gate is not None:
            await gate()
        started = datetime.now(UTC)
        self._cpu0 = cpu0 = process_cpu_s()
        self._t0 = self.clock()
        self._started = True
        deadline = self.share.max_duration_s
        windows = asyncio.create_task(self._windows())
        flusher = asyncio.create_task(self._flusher())
        watchdog = asyncio.create_task(self._deadline(deadline))
        try:
            if self.spec.ramp.model == "open":
                await self._open()
            else:
                await self._closed()
            await self._drain(deadline)
        finally:
            background = (windows, flusher, watchdog)
            for t in (*background, *self._tasks):
                t.cancel()
            self._cancel_outstanding()
            await asyncio.gather(*background, *self._tasks, return_exceptions=True)
            await self._client.close()
        duration = self.clock() - self._t0
        cpu = process_cpu_s() - cpu0
        return summary_mod.build(
            recorder=self.recorder,
            pod={
                "index": self.share.index,
                "count": self.share.count,
                "maxRps": self.share.max_rps,
                "maxInFlight": self.share.max_in_flight,
                # the load process's own CPU: near 1 core, it, not the target, is the limit
                "cpuSeconds": round(cpu, 3),
                "cpuCores": round(cpu / duration, 3) if duration > 0 else 0.0,
            },
            model=self.spec.ramp.model,
            outcome=self._stop_reason,
            started_at=started.isoformat(),
            ended_at=datetime.now(UTC).isoformat(),
            duration_s=duration,
            steps=summary_mod.steps_json(self.steps, self._step_sent, self._ledger),
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

    def _warm_connections(self) -> int:
        """Connections to open before the start: for the open model, what its peak rate keeps
        busy at 4 ms each plus one catch-up burst (BATCH sends in a row after a stall); the
        closed model: its largest step's users; never more than the in-flight budget. More
        are opened when needed, but such a send is a task that connects, several times the
        cost of one on an idle connection, and it comes exactly when the engine is behind
        (with 8 + peak/500 at 25-30k req/s: 40-1070 of them a run, and it stayed behind)."""
        peak = max((s.rate for s in self.steps), default=0)
        wanted = peak if self.spec.ramp.model == "closed" else BATCH + peak // 250
        return min(self.share.max_in_flight, wanted)

    # --- time and budget ----------------------------------------------------------------

    def _now(self) -> float:
        return self.clock() - self._t0

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when the run is stopped."""
        if seconds <= MIN_SLEEP_S:
            await asyncio.sleep(0)
            return
        if seconds < 0.05 or self._stop_event is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), seconds)

    def _take_now(self) -> bool:
        """A slot and a rate token if both are free right now (nobody waiting before us):
        the common case, without awaiting anything."""
        slots = self._slots
        if (
            slots.held < slots.limit
            and not slots.waiting
            and not self._token_waiters
            and not self._stopping
            and self.limiter.take(self.clock() - self._t0) == 0.0
        ):
            slots.held += 1
            self._in_flight += 1
            return True
        return False

    async def _acquire(self, deadline: float | None = None) -> bool:
        """An in-flight slot, then a rate token at the moment of sending. False if stopped
        while waiting, or (with ``deadline``, engine seconds) if both cannot be had by then;
        nothing is held then."""
        if self._take_now():
            return True
        if self._stopping:
            return False
        if not self._slots.try_take() and not await self._wait_for_slot(deadline):
            return False
        try:
            granted = await self._token(deadline)
        except asyncio.CancelledError:
            self._release_slot()
            raise
        if not granted:
            self._release_slot()
            return False
        self._in_flight += 1
        return True

    async def _token(self, deadline: float | None) -> bool:
        """A rate token: at once if nobody is waiting and the window admits one, else in
        turn (first come, first served: no user waits while later ones are sent). False if
        stopped, or if it cannot be had by ``deadline`` (engine seconds)."""
        if self._stopping:
            return False
        now = self._now()
        if not self._token_waiters:
            wait = self.limiter.take(now)
            if wait == 0.0:
                return True
            if deadline is not None and now + wait > deadline:
                return False
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._token_waiters.append(waiter)
        self._hand_tokens()
        try:
            if deadline is None:
                return await waiter
            return await asyncio.wait_for(asyncio.shield(waiter), max(0.0, deadline - now))
        except TimeoutError:
            if waiter.done() and waiter.result():
                return True  # granted just as the deadline came: it is ours
            waiter.cancel()  # skipped by the hand-out
            return False
        except asyncio.CancelledError:
            waiter.cancel()  # no-op if granted: that token is spent (the window counts it)
            raise

    def _hand_tokens(self) -> None:
        """Give tokens to the oldest waiters while the window admits them; then wake up when
        it admits the next one."""
        waiters = self._token_waiters
        if self._token_timer is not None:
            self._token_timer.cancel()
            self._token_timer = None
        while waiters:
            head = waiters[0]
            if head.done():  # gave up (deadline, cancelled)
                waiters.popleft()
                continue
            wait = self.limiter.take(self._now())
            if wait > 0.0:
                if wait != float("inf"):
                    loop = asyncio.get_running_loop()
                    self._token_timer = loop.call_later(wait, self._hand_tokens)
                return
            waiters.popleft()
            head.set_result(True)

    async def _wait_for_slot(self, deadline: float | None) -> bool:
        """Queue for an in-flight slot (a release hands its slot to the first waiter)."""
        waiter = asyncio.get_running_loop().create_future()
        self._slots.wait(waiter)
        try:
            if deadline is None:
                await waiter
            else:
                await asyncio.wait_for(waiter, max(0.0, deadline - self._now()))
        except TimeoutError:
            self._slots.forget(waiter)  # cancelled by wait_for: a release skips it anyway
            return False
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release_slot()  # handed over just as we were cancelled: pass it on
            else:
                self._slots.forget(waiter)
            raise
        return True

    def _release(self) -> None:
        self._in_flight -= 1
        self._release_slot()

    def _release_slot(self) -> None:
        waiter = self._slots.release(_pending)
        if waiter is not None:
            waiter.set_result(None)

    def _current_rate(self, step: int) -> float:
        """The step's rate as the back-off lets it run now."""
        return self.controller.rate(self.steps[step].rate)

    # --- request ------------------------------------------------------------------------

    def _choose(self) -> CompiledScenario | None:
        """The next request's scenario, respecting the creation budget (a creating scenario
        over budget is replaced by a non-creating one, by weight, or skipped)."""
        sc = self.picker.pick()
        if not sc.creates:
            return sc
        spec = sc.spec
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

    def _data(self, sc: CompiledScenario) -> bytes:
        """The request's bytes (fixed for a scenario without templates)."""
        data = self._fixed[sc.index]
        if data is None:
            values = self._values()
            data = self._makers[sc.index].build(sc.render_path(values), sc.render_body(values))
        return data

    async def _request(
        self,
        sc: CompiledScenario,
        intended: float,
        step: int | None,
        data: bytes | None = None,
        first: tuple[int | None, str | None] | None = None,
    ) -> None:
        """One logical request with its retries; holds a slot (taken by the caller) for the
        first attempt, unless ``first`` is given: the (status, error kind) of a first attempt
        already made (and its slot released) by the open model's callback path. Latency runs
        from ``intended`` to the last answer."""
        i = sc.index
        if data is None:
            data = self._data(sc)
        head_only = self._makers[i].head_only
        status: int | None = None
        error: str | None = None
        attempt = 0
        try:
            while True:
                if first is not None:
                    (status, error), first = first, None
                else:
                    if step is not None:
                        self._step_sent[step] += 1
                    try:
                        status, error = await self._client.send(data, head_only), None
                    except HttpError as exc:
                        status, error = None, exc.kind
                        self._last_error = f"{exc.kind}: {exc.message}"
                    finally:
                        self._release()
                    if status is not None:
                        self._reachable = True
                        if attempt == 0 and status not in RETRY_STATUSES:
                            # answered at the first attempt: one call records it all
                            latency = self._now() - intended
                            self.recorder.answered(i, status, latency, sc.ok(status))
                            return
                self.recorder.attempt(i, status, error, retry=attempt > 0)
                retry = status is None or status in RETRY_STATUSES
                if not retry or attempt >= self.max_retries or self._stopping:
                    break
                if self.controller.holding and status in self.recorder.back_off_codes:
                    break  # backed off: a retry of "slow down" would add to the overload
                if self._now() >= self._ramp_end:
                    break  # the ramp is over: no new attempts, only the drain
                attempt += 1
                backoff = min(RETRY_BACKOFF_S * 2 ** (attempt - 1), RETRY_BACKOFF_MAX_S)
                await self._sleep(backoff * (0.5 + self.rng.random()))
                if self._stopping or not self._retry_creation_ok(sc):
                    break
                if not await self._acquire():
                    break
                if self.controller.holding and status in self.recorder.back_off_codes:
                    self._release()
                    break  # the rate was cut while this retry waited: it would overshoot it
                step = step_at(self.steps, self._now())
        except asyncio.CancelledError:
            self.recorder.incomplete(i, "cancelled")
            raise
        latency = self._now() - intended
        ok = status is not None and sc.ok(status)
        self.recorder.complete(i, latency, ok, status)

    def _fire(self, sc: CompiledScenario, slot: float, sent: float, step: int) -> None:
        """The open model's send of ``slot``, at ``sent`` (a slot and a token are held): on an
        idle connection with :meth:`_answered` as its callback, else (no idle connection) as
        a task that opens one. A send early (by at most EARLY_S) counts its latency from the
        send."""
        self._ledger.sent(step, sent - slot)
        intended = min(slot, sent)
        data = self._data(sc)
        if self._client.try_send(
            data, self._makers[sc.index].head_only, self._on_answer, (sc, intended, data)
        ):
            self._step_sent[step] += 1
            self._outstanding += 1
            return
        self._spawn(self._request(sc, intended, step, data))

    def _answered(
        self,
        token: tuple[CompiledScenario, float, bytes],
        status: int,
        error: HttpError | None,
    ) -> None:
        """The end of an attempt sent by :meth:`_fire` (called from the protocol): recorded
        here when it is final, else a task takes the request on to its retries."""
        sc, intended, data = token
        self._release()
        self._outstanding -= 1
        if not self._outstanding and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        if error is None:
            self._reachable = True
            if status not in RETRY_STATUSES:
                self.recorder.answered(sc.index, status, self._now() - intended, sc.ok(status))
                return
            first: tuple[int | None, str | None] = (status, None)
        elif self._cancelling:
            self.recorder.incomplete(sc.index, "cancelled")
            return
        else:
            self._last_error = f"{error.kind}: {error.message}"
            first = (None, error.kind)
        self._spawn(self._request(sc, intended, None, data, first))

    def _cancel_outstanding(self) -> None:
        """End the callback path's attempts still out (counted "cancelled", as a cancelled
        task's request is)."""
        self._cancelling = True
        self._client.fail_pending("disconnected", "cancelled")

    def _retry_creation_ok(self, sc: CompiledScenario) -> bool:
        spec = sc.spec
        if not (spec.creates_accounts or spec.creates_rows):
            return True
        if self.creations.try_take(self._now(), spec.creates_accounts, spec.creates_rows):
            return True
        self.recorder.creation_limited(sc.index)
        return False

    def _spawn(self, request: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(request)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- models -------------------------------------------------------------------------

    async def _open(self) -> None:
        """Arrival-rate model: request k is due at its slot whatever the server does, its
        latency counted from the slot. A slot that cannot go out within ``maxLateness`` (the
        engine or the budget cannot keep up) is dropped and counted, never sent late, and
        nothing is sent once the ramp is over: the run never outlives its ramp by more than
        the drain. A step at or above the budget is paced at the rate the limiter sustains."""
        if not self.steps:
            return
        ledger = self._ledger
        clock, t0 = self.clock, self._t0
        max_lateness, ramp_end = self.max_lateness_s, self._ramp_end
        slots = Arrivals(
            phase_offset(self.share.index, self.share.count, max(1, self.steps[0].rate))
        )
        t = slots.next(max(1, self.steps[0].rate))
        sends = 0
        # The step and its pace hold until a slot passes the step's end or the loop has run
        # other work (an await: a window may have cut the rate); in between they are not
        # looked up again per slot.
        fresh = False
        step, pace, step_end = 0, 0.0, 0.0
        while not self._stopping:
            if not fresh or t >= step_end:
                found = self._paced(slots, t)
                if found is None:
                    break
                t, step, pace, step_end = found
                if t >= step_end:  # the step is over (t never precedes its start)
                    continue
                fresh = True
            now = clock() - t0
            if t > now + EARLY_S:
                await self._sleep(t - now - EARLY_S)
                fresh = False
                if self._stopping:
                    break
                now = clock() - t0
            elif sends >= BATCH:
                await asyncio.sleep(0)
                sends = 0
                fresh = False
                now = clock() - t0
            sends += 1
            if self.controller.aborted:
                break
            slots.advance()
            sc = self._choose()
            if sc is None:
                t = slots.next(pace)
                continue
            ledger.due[step] += 1
            deadline = min(t + max_lateness, ramp_end)
            # Past its deadline already (the loop was held, or the engine is behind): dropped
            # even when the budget is free, never sent late by more than maxLateness.
            if now > deadline:
                taken = False
            elif not (taken := self._take_now()):
                taken = await self._acquire(deadline)
                fresh = False
            if not taken:
                self._drop(step)
                t = slots.next(pace)
                if self._stopping:
                    break
                continue
            self._fire(sc, t, clock() - t0, step)
            t = slots.next(pace)
        self._drop_undelivered(slots, t)

    def _drop_undelivered(self, slots: Arrivals, t: float) -> None:
        """The open model's slots from ``t`` that were due but never went out (stopped or
        aborted): due and dropped."""
        ledger = self._ledger
        now = min(self._now(), self._ramp_end)
        while t < now:
            found = self._active(slots, t)
            if found is None or found[0] >= now:
                break
            t, step, rate = found
            ledger.due[step] += 1
            self._drop(step)
            slots.advance()
            t = slots.next(min(float(rate), self._pace_cap))

    def _drop(self, step: int) -> None:
        self._ledger.drop(step)
        self.recorder.dropped += 1

    def _paced(self, slots: Arrivals, t: float) -> tuple[float, int, float, float] | None:
        """From ``t`` (see :meth:`_active`): the next slot, its step, the pace (the step's
        rate as the back-off lets it run, at most what the budget sustains) and the step's
        end; None once the ramp is over."""
        found = self._active(slots, t)
        if found is None:
            return None
        _, step, rate = found
        pace = min(float(rate), self._pace_cap)
        return slots.next(pace), step, pace, self.steps[step].end

    def _active(self, slots: Arrivals, t: float) -> tuple[float, int, float] | None:
        """(t, step, rate) of the first step from ``t`` on with a rate above 0, ``t`` moved to
        its start past any step with nothing to send (the arrivals jump there too); None once
        the ramp is over."""
        while (step := step_at(self.steps, t)) is not None:
            rate = self._current_rate(step)
            if rate > 0:
                return t, step, rate
            t = self.steps[step].end
            slots.jump(t)
        return None

    async def _closed(self) -> None:
        """Virtual users: each sends, waits for the answer, thinks, sends again. The number of
        users follows the ramp (and the back-off)."""
        think = parse_duration(self.spec.ramp.think_time)
        users: dict[int, asyncio.Task[None]] = {}
        wanted = 0

        async def user(k: int) -> None:
            steps = self.steps
            while not self._stopping and k < wanted:
                intended = self._now()
                sc = self._choose()
                if sc is None:
                    await self._sleep(max(think, 0.01))
                    continue
                if not (self._take_now() or await self._acquire()):
                    break
                sent = self._now()
                # The user's wait for the budget is reported apart; latency runs from sending.
                self.recorder.waited_for_budget(sent - intended)
                await self._request(sc, sent, step_at(steps, sent))
                if think:
                    await self._sleep(think)

        while not self._stopping and not self.controller.aborted:
            step = step_at(self.steps, self._now())
            if step is None:
                break
            wanted = max(1, round(self._current_rate(step)))
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
        if not self._tasks and not self._outstanding:
            return
        limit = min(self.drain_timeout_s, max(0.0, deadline - self._now()))
        loop = asyncio.get_running_loop()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit):
                while self._tasks or self._outstanding:
                    if self._tasks:
                        await asyncio.gather(*self._tasks, return_exceptions=True)
                    else:
                        self._drained = loop.create_future()
                        await self._drained

    async def _deadline(self, deadline: float) -> None:
        """maxDuration is a hard wall: stop sending and cancel what is still out."""
        await asyncio.sleep(max(0.0, deadline - self._now()))
        self.stop("deadline")
        for t in list(self._tasks):
            t.cancel()
        self._cancel_outstanding()

    async def _flusher(self) -> None:
        """Pending latencies into the histograms and the metrics, every FLUSH_S."""
        while True:
            await asyncio.sleep(FLUSH_S)
            self.recorder.flush()

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
                decision = self.controller.observe(signals, step, self.steps[step].rate)
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
