"""The engine's HTTP/1.1 client against a raw TCP server that answers with exact bytes: what
it sends, keep-alive and its end, the framings of an answer (length, chunked, until close,
HEAD, interim 1xx), and every error kind (connect, timeout, disconnected, transport)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvloop

from perfrun.load.http import Client, HttpError, Origin, RequestBytes, parse_origin

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@dataclass
class RawServer:
    """Answers request k (0-based, over all connections) with ``answer(k)``: bytes to write,
    then the connection is closed if ``close(k)``; None: never answer."""

    answer: Callable[[int], bytes | None]
    close: Callable[[int], bool] = lambda k: False
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    closed_by_client: int = 0
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                k = len(self.requests)
                self.requests.append(head + body)
                data = self.answer(k)
                if data is None:
                    await reader.read()  # hang until the client gives up
                    self.closed_by_client += 1
                    return
                writer.write(data)
                await writer.drain()
                if self.close(k):
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed_by_client += 1
        finally:
            writer.close()


def run(server: RawServer, body: Callable[[Origin, RawServer], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        srv = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        server.port = srv.sockets[0].getsockname()[1]
        try:
            return await body(parse_origin(f"http://127.0.0.1:{server.port}/base/"), server)
        finally:
            srv.close()

    return uvloop.run(main())


async def send_all(
    origin: Origin, requests: list[bytes], timeout: float = 5.0, head_only: bool = False
) -> list[int | str]:
    client = Client(origin, timeout)
    client.start()
    out: list[int | str] = []
    try:
        for data in requests:
            try:
                out.append(await client.send(data, head_only))
            except HttpError as exc:
                out.append(exc.kind)
    finally:
        await client.close()
    return out


def get(origin: Origin, path: str = "/") -> bytes:
    return RequestBytes(origin, "GET", {}).build(path, None)


def test_origin_keeps_the_port_and_base_path_and_the_host_header_omits_a_default_port() -> None:
    o = parse_origin("http://api:8080/v1/")
    assert (o.host, o.port, o.host_header, o.base_path) == ("api", 8080, "api:8080", "/v1")
    o = parse_origin("https://[::1]")
    assert (o.host, o.port, o.host_header, o.base_path) == ("::1", 443, "[::1]", "")
    with pytest.raises(ValueError):
        parse_origin("ftp://x")


def test_requests_carry_host_agent_length_body_and_the_scenario_headers() -> None:
    o = parse_origin("http://api:8080/v1")
    get_ = RequestBytes(o, "GET", {"X-Tenant": "7"}).build("/a?b=1", None)
    assert get_ == b"GET /v1/a?b=1 HTTP/1.1\r\nHost: api:8080\r\nUser-Agent: perfrun-load\r\n" + (
        b"X-Tenant: 7\r\n\r\n"
    )
    post = RequestBytes(o, "POST", {"Content-Type": "application/json", "Host": "h"})
    assert post.build("/i", b'{"n":1}') == (
        b"POST /v1/i HTTP/1.1\r\nUser-Agent: perfrun-load\r\nContent-Type: application/json"
        b'\r\nHost: h\r\nContent-Length: 7\r\n\r\n{"n":1}'
    )
    assert post.build("/i", None).endswith(b"Content-Length: 0\r\n\r\n")
    assert RequestBytes(o, "HEAD", {}).head_only


def test_keep_alive_reuses_one_connection_and_the_server_sees_each_request() -> None:
    server = RawServer(lambda k: OK)
    statuses = run(server, lambda o, s: send_all(o, [get(o, f"/{k}") for k in range(50)]))
    assert statuses == [200] * 50
    assert server.connections == 1
    assert server.requests[3].startswith(b"GET /base/3 HTTP/1.1\r\nHost: 127.0.0.1:")


def test_every_framing_of_an_answer_is_read_to_its_end() -> None:
    answers = [
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\nConnection: close\r\n\r\nnope!",
        b"HTTP/1.1 503 Busy\r\nConnection: close\r\n\r\nbody until the connection closes",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",  # HTTP/1.0: not kept alive
        OK,
    ]
    server = RawServer(lambda k: answers[k], close=lambda k: k in (2, 3, 4))
    statuses = run(server, lambda o, s: send_all(o, [get(o)] * len(answers)))
    assert statuses == [201, 204, 404, 503, 200, 200]
    assert server.connections == 4  # a new one after each answer that ended the connection


def test_an_answer_to_head_has_no_body_whatever_its_length_says() -> None:
    server = RawServer(lambda k: b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    head = RequestBytes(parse_origin("http://x"), "HEAD", {})

    async def body(o: Origin, s: RawServer) -> list[int | str]:
        return await send_all(o, [head.build("/", None)] * 3, timeout=2.0, head_only=True)

    assert run(server, body) == [200, 200, 200]
    assert server.connections == 1


def test_no_answer_within_the_timeout_is_a_timeout_and_the_connection_is_dropped() -> None:
    server = RawServer(lambda k: None if k == 0 else OK)

    async def body(o: Origin, s: RawServer) -> tuple[list[int | str], float]:
        t0 = time.monotonic()
        out = await send_all(o, [get(o)] * 2, timeout=0.3)
        return out, time.monotonic() - t0

    (statuses, took) = run(server, body)
    assert statuses == ["timeout", 200]
    assert 0.3 <= took < 1.0
    assert server.connections == 2 and server.closed_by_client >= 1


def test_a_refused_connection_is_a_connect_error() -> None:
    async def main() -> list[int | str]:
        srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        srv.close()
        await srv.wait_closed()
        return await send_all(parse_origin(f"http://127.0.0.1:{port}"), [b"GET / HTTP/1.1\r\n\r\n"])

    assert uvloop.run(main()) == ["connect"]


def test_a_cut_answer_is_disconnected_and_garbage_is_transport() -> None:
    answers = [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", b"SSH-2.0-OpenSSH\r\n\r\n", OK]
    server = RawServer(lambda k: answers[k], close=lambda k: k == 0)
    statuses = run(server, lambda o, s: send_all(o, [get(o)] * 3))
    assert statuses == ["disconnected", "transport", 200]


def test_a_cancelled_request_drops_its_connection() -> None:
    server = RawServer(lambda k: None)

    async def body(o: Origin, s: RawServer) -> int:
        client = Client(o, 10.0)
        client.start()
        task = asyncio.ensure_future(client.send(get(o)))
        while not s.requests:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(100):
            if s.closed_by_client:
                break
            await asyncio.sleep(0.01)
        await client.close()
        return s.closed_by_client

    assert run(server, body) == 1
