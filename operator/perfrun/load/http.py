"""The load engine's HTTP/1.1 client: keep-alive connections on asyncio Protocols, responses
parsed by llhttp (``httptools``), request bytes prepared once per scenario.

Chosen by measurement (``bench/load_throughput.py``): on loopback nginx with 32 connections
aiohttp on uvloop spends ~100 µs of CPU per request, this client ~8 µs, so the engine's own
bookkeeping, not the client, decides its throughput per core. It does only what a load test
needs: send a prepared request, wait for the status line and the end of the response (the
body is parsed and dropped), reuse the connection when the server allows it.

Two ways to send: ``await send(...)`` (a future per exchange, for callers that are coroutines)
and ``try_send(..., done, token)``, which calls ``done(token, status, error)`` from the
protocol when the answer is complete (no future, no task: the open model's hot path).

Errors come out as :class:`HttpError` with a kind the summary counts: ``connect`` (refused,
unresolvable, connect timeout), ``timeout`` (no complete answer within the request timeout),
``disconnected`` (the server closed or reset the connection before answering) and
``transport`` (an answer that is not HTTP)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, TypeAlias, cast
from urllib.parse import urlsplit

import httptools

USER_AGENT = "perfrun-load"
# Methods whose request always carries a Content-Length (0 without a body), as browsers do.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


# Called once per exchange: (token, status, None) with the answer's status, or (token, 0, error).
Done: TypeAlias = Callable[[Any, int, "HttpError | None"], None]


class HttpError(Exception):
    """An attempt that got no HTTP answer; ``kind`` is what the summary counts."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Origin:
    """Where requests go: scheme, host and port, the ``Host`` header and the base path that
    every scenario path is appended to."""

    scheme: str
    host: str
    port: int
    host_header: str
    base_path: str

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.base_path}"


def parse_origin(url: str) -> Origin:
    """``http(s)://host[:port][/base]``; raises ValueError for anything else."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL with a host")
    default = 443 if scheme == "https" else 80
    port = parts.port or default
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default else f"{shown}:{port}"
    return Origin(scheme, host, port, host_header, parts.path.rstrip("/"))


class RequestBytes:
    """One scenario's requests as bytes: the head is fixed but for the path (and the body's
    length), so a request costs a few byte joins, or nothing when path and body are fixed."""

    def __init__(self, origin: Origin, method: str, headers: Mapping[str, str]) -> None:
        """``headers`` are checked already (no line breaks: see ``templates``)."""
        lower = {k.lower() for k in headers}
        lines = []
        if "host" not in lower:
            lines.append(f"Host: {origin.host_header}\r\n")
        if "user-agent" not in lower:
            lines.append(f"User-Agent: {USER_AGENT}\r\n")
        for name, value in headers.items():
            lines.append(f"{name}: {value}\r\n")
        self.method = method
        self.head_only = method == "HEAD"
        self._always_length = method in _BODY_METHODS
        self._start = f"{method} {origin.base_path}".encode()
        self._fields = (" HTTP/1.1\r\n" + "".join(lines)).encode("latin-1")

    def build(self, path: str, body: bytes | None) -> bytes:
        if body is None:
            if self._always_length:
                return self._start + path.encode() + self._fields + b"Content-Length: 0\r\n\r\n"
            return self._start + path.encode() + self._fields + b"\r\n"
        return b"".join(
            (
                self._start,
                path.encode(),
                self._fields,
                b"Content-Length: %d\r\n\r\n" % len(body),
                body,
            )
        )


class _Conn(asyncio.Protocol):
    """One keep-alive connection; at most one exchange at a time (no pipelining). An
    exchange in progress has ``done`` set; it is called exactly once."""

    __slots__ = (
        "client",
        "deadline",
        "done",
        "head_only",
        "headers_done",
        "open",
        "parser",
        "token",
        "transport",
    )

    def __init__(self, client: Client) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.done: Done | None = None
        self.token: Any = None
        self.deadline = 0.0
        self.head_only = False
        self.headers_done = False
        self.open = True

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail("transport", f"not an HTTP answer: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self.client._lost(self)
        if self.done is None:
            return
        if self.headers_done and not self.parser.should_keep_alive():
            # An answer without a length ends when the server closes the connection.
            self._finish(self.parser.get_status_code(), None)
            return
        why = f": {exc}" if exc else ""
        self._finish(
            0, HttpError("disconnected", f"the server closed the connection before answering{why}")
        )

    # --- httptools callbacks --------------------------------------------------------------

    def on_headers_complete(self) -> None:
        self.headers_done = True
        if self.head_only:
            self._complete()

    def on_message_complete(self) -> None:
        if not self.head_only:
            self._complete()

    # --- exchange -------------------------------------------------------------------------

    def start(self, data: bytes, head_only: bool, deadline: float, done: Done, token: Any) -> None:
        self.done = done
        self.token = token
        self.head_only = head_only
        self.deadline = deadline
        assert self.transport is not None
        self.transport.write(data)

    def _finish(self, status: int, error: HttpError | None) -> None:
        done, token = self.done, self.token
        self.done = self.token = None
        if done is not None:
            done(token, status, error)

    def _complete(self) -> None:
        parser = self.parser
        status = parser.get_status_code()
        self.headers_done = False
        if status < 200 and status != 101:
            return  # an interim answer (100 Continue, 103 Early Hints): the real one follows
        if self.head_only:
            # The answer to HEAD has no body whatever its Content-Length says; llhttp would
            # wait for one, so the next answer gets a fresh parser.
            self.parser = httptools.HttpResponseParser(self)
        if self.done is None:
            self._close()  # an answer nobody asked for: the connection is out of step
            return
        if parser.should_keep_alive():
            self.client.idle.append(self)
        else:
            self._close()
        self._finish(status, None)

    def abandon(self) -> None:
        """Nobody will read the answer: drop the connection without telling anyone, so the
        server stops working on a request that no longer holds a slot here."""
        self.done = self.token = None
        self._fail("disconnected", "cancelled")

    def _close(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.close()

    def _fail(self, kind: str, message: str) -> None:
        """End the exchange with an error and drop the connection (its state is unknown)."""
        self.open = False
        if self.transport is not None:
            self.transport.abort()
        if self.done is not None:
            self._finish(0, HttpError(kind, message))


def _resolve(future: asyncio.Future[int], status: int, error: HttpError | None) -> None:
    """``Done`` for :meth:`Client.send`: the exchange's outcome into its future."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(status)


def _no_loop(*_: Any) -> NoReturn:
    raise RuntimeError("Client.start() was not called in the running loop")


class Client:
    """A pool of keep-alive connections to one origin. Beyond the ones :meth:`warm` opens
    ahead of the load, it opens a connection only when no idle one is left, so it never holds
    more connections than the warm count or the most requests ever in flight at once. Call
    :meth:`start` inside the running loop and :meth:`close` at the end."""

    def __init__(self, origin: Origin, timeout_s: float) -> None:
        self.origin = origin
        self.timeout_s = timeout_s
        self.idle: list[_Conn] = []
        self._conns: set[_Conn] = set()
        self._ssl: ssl.SSLContext | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._timeout_text = f"no answer within {timeout_s:g}s"
        self.new_future: Callable[[], asyncio.Future[int]] = _no_loop
        self._time: Callable[[], float] = _no_loop

    def start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self.new_future = loop.create_future
        self._time = loop.time
        if self.origin.scheme == "https":
            self._ssl = ssl.create_default_context()
        self._sweeper = loop.create_task(self._sweep())

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        for conn in list(self._conns):
            conn.abandon()  # whoever waited for it was cancelled already
        self.idle.clear()

    async def send(self, data: bytes, head_only: bool = False) -> int:
        """Send one prepared request; its status code, or HttpError."""
        conn = self._idle()
        if conn is None:
            conn = await self._connect()
            if not conn.open:
                raise HttpError("disconnected", "the server closed the connection at once")
        future = self.new_future()
        conn.start(data, head_only, self._time() + self.timeout_s, _resolve, future)
        try:
            return await future
        except asyncio.CancelledError:
            # Nobody will read the answer: drop the connection, so the server stops working
            # on a request that no longer holds a slot here.
            conn.abandon()
            raise

    def try_send(self, data: bytes, head_only: bool, done: Done, token: Any) -> bool:
        """Send on an idle connection if there is one (False, nothing sent, if not): the
        answer or the error comes back as ``done(token, status, error)``, called once from
        the protocol (the loop's callback), or with an error by :meth:`fail_pending`."""
        conn = self._idle()
        if conn is None:
            return False
        conn.start(data, head_only, self._time() + self.timeout_s, done, token)
        return True

    def fail_pending(self, kind: str, message: str) -> int:
        """End every exchange in progress with an error (and drop its connection); returns
        how many there were."""
        pending = [conn for conn in self._conns if conn.done is not None]
        for conn in pending:
            conn._fail(kind, message)
        return len(pending)

    def _idle(self) -> _Conn | None:
        idle = self.idle
        while idle:
            conn = idle.pop()
            if conn.open:
                return conn
        return None

    async def warm(self, count: int, within_s: float) -> int:
        """Open up to ``count`` connections ahead of the load (idle, ready for it), so the
        first second does not pay for connection set-up while it should be sending; gives up
        after ``within_s``. Returns how many are open; a failure here is not an error (the
        requests will report what the target does)."""

        async def one() -> None:
            conn = await self._connect()
            if conn.open:
                self.idle.append(conn)

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within_s):
                await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
        return sum(1 for c in self.idle if c.open)

    async def _connect(self) -> _Conn:
        assert self._loop is not None
        origin = self.origin
        where = f"{origin.host}:{origin.port}"
        try:
            async with asyncio.timeout(self.timeout_s):
                _, conn = await self._loop.create_connection(
                    lambda: _Conn(self),
                    origin.host,
                    origin.port,
                    ssl=self._ssl,
                    server_hostname=origin.host if self._ssl is not None else None,
                )
        except TimeoutError:
            raise HttpError("connect", f"{where}: {self._timeout_text}") from None
        except (OSError, ssl.SSLError) as exc:
            raise HttpError("connect", f"{where}: {exc}") from None
        if conn.open:
            self._conns.add(conn)
        return conn

    def _lost(self, conn: _Conn) -> None:
        self._conns.discard(conn)

    async def _sweep(self) -> None:
        """Time out exchanges past their deadline (a check every few tens of milliseconds is
        cheaper than a timer per request, and precise enough for a request timeout)."""
        tick = min(0.05, max(0.005, self.timeout_s / 20))
        while True:
            await asyncio.sleep(tick)
            now = self._time()
            for conn in list(self._conns):
                if conn.done is not None and conn.deadline <= now:
                    conn._fail("timeout", self._timeout_text)
