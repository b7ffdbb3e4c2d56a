"""An async HTTP/1.1 load generator: raw asyncio protocols on uvloop, one keep-alive connection per
virtual user, so it can drive thousands of requests a second from one core and hold 1,000 streams.

Two shapes of load:
- `closed_loop`: N users each send a request as soon as their previous one finished, for a fixed
  time (after a warm-up whose requests are not counted);
- `wave`: N requests sent at the same instant on N already-open connections (burst and held
  streams); the figure is how long until the last one finished.

Each result reports requests/s, latency p50/p95/p99, time to first chunk for streams (first body
bytes after the headers) and errors by kind. A request counts as an error unless it got a 200 and a
complete body in its client protocol (`Answer`: for chat, a JSON answer with `choices`, or a stream
ending with `data: [DONE]`; for the Messages and Responses APIs, their own final answer or event).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import orjson

clock = time.perf_counter


@dataclass(frozen=True)
class Answer:
    """What makes an answer complete in one client protocol: a non-streaming answer holds one of
    `whole`; a stream holds one of `ends` and none of `failures`."""

    whole: tuple[bytes, ...]
    ends: tuple[bytes, ...]
    failures: tuple[bytes, ...]

    def problem(self, body: bytes, *, stream: bool) -> str:
        """Why `body` is not a complete answer, or "" when it is."""
        if not stream:
            return "" if any(marker in body for marker in self.whole) else "incomplete answer"
        if not any(marker in body for marker in self.ends):
            return "stream without its end"
        return "error event in stream" if any(marker in body for marker in self.failures) else ""


CHAT_ANSWER = Answer((b'"choices"',), (b"data: [DONE]", b"data:[DONE]"), (b'"error"',))
MESSAGES_ANSWER = Answer((b'"type":"message"',), (b'"type":"message_stop"',), (b'"type":"error"',))
RESPONSES_ANSWER = Answer(
    (b'"status":"completed"',), (b'"type":"response.completed"',), (b'"type":"response.failed"', b'"type":"error"')
)


@dataclass(frozen=True)
class Target:
    """Where to send requests and how: the full URL (`chat/completions` unless a scenario of another
    client protocol changed it), extra headers, and what a complete answer looks like."""

    url: str
    headers: tuple[tuple[str, str], ...] = ()
    answer: Answer = CHAT_ANSWER

    def raw_request(self, body: dict) -> bytes:
        parts = urlsplit(self.url)
        payload = orjson.dumps(body)
        lines = [
            f"POST {parts.path or '/'} HTTP/1.1",
            f"host: {parts.netloc}",
            "content-type: application/json",
            "accept: */*",
            f"content-length: {len(payload)}",
            *(f"{name}: {value}" for name, value in self.headers),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or 80


PROMPT = "Say something short."


def chat_body(model: str, *, stream: bool, extra: dict | None = None) -> dict:
    body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "stream": stream}
    return {**body, **(extra or {})}


def messages_body(model: str, *, stream: bool) -> dict:
    """An Anthropic Messages API request with the same prompt."""
    return {"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": PROMPT}], "stream": stream}


def responses_body(model: str, *, stream: bool) -> dict:
    """A Responses API request with the same prompt; `store: false` (as Codex sends), so the gateway
    writes no stored response and the figure compares with chat's."""
    return {"model": model, "input": PROMPT, "stream": stream, "store": False}


class Outcome:
    __slots__ = ("ok", "error", "latency", "ttfc")

    def __init__(self, ok: bool, error: str = "", latency: float = 0.0, ttfc: float | None = None) -> None:
        self.ok, self.error, self.latency, self.ttfc = ok, error, latency, ttfc


class HttpConnection(asyncio.Protocol):
    """One client connection that sends one request at a time and parses the answer incrementally."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future | None = None
        self.lost = False
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.head_done = False
        self.length: int | None = None
        self.chunked = False
        self.close_after = False
        self.body = bytearray()
        self.first_body: float | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:
            return
        self.buf += data
        try:
            self._advance()
        except Exception as exc:  # noqa: BLE001 - a garbled answer is an error, not a crash
            self._finish(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.transport = None
        if self.waiter is not None and not self.waiter.done():
            if self.head_done and self.length is None and not self.chunked:
                self._finish(None)  # a body delimited by the connection closing
            else:
                self._finish(ConnectionError("connection closed mid-answer"))

    # parsing
    def _advance(self) -> None:
        if not self.head_done:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
            del self.buf[: end + 4]
            self.status = int(lines[0].split(" ", 2)[1])
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    self.length = int(value)
                elif name == "transfer-encoding" and "chunked" in value.lower():
                    self.chunked = True
                elif name == "connection" and "close" in value.lower():
                    self.close_after = True
            if self.status in (100, 101, 103):
                self._reset()
                return self._advance()
            self.head_done = True
        if self.chunked:
            while True:
                line_end = self.buf.find(b"\r\n")
                if line_end < 0:
                    return
                size = int(bytes(self.buf[:line_end]).split(b";", 1)[0], 16)
                if size == 0:
                    if self.buf.find(b"\r\n", line_end + 2) < 0:
                        return
                    self._finish(None)
                    return
                if len(self.buf) < line_end + 2 + size + 2:
                    return
                if self.first_body is None:
                    self.first_body = clock()
                self.body += self.buf[line_end + 2 : line_end + 2 + size]
                del self.buf[: line_end + 2 + size + 2]
        elif self.length is not None:
            if self.buf and self.first_body is None:
                self.first_body = clock()
            if len(self.buf) >= self.length:
                self.body = self.buf[: self.length]
                del self.buf[: self.length]
                self._finish(None)
        else:
            if self.buf and self.first_body is None:
                self.first_body = clock()
            self.body += self.buf
            self.buf.clear()

    def _finish(self, exc: Exception | None) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)

    async def send(self, raw: bytes) -> float:
        """Write a request; returns the time it was written. Await `self.answer` afterwards."""
        self._reset()
        self.buf.clear()
        self.answer = asyncio.get_running_loop().create_future()
        self.waiter = self.answer
        self.transport.write(raw)
        return clock()


class Client:
    """A virtual user: one connection, reopened when the server closes it."""

    def __init__(self, target: Target, timeout: float) -> None:
        self.target = target
        self.timeout = timeout
        self.conn: HttpConnection | None = None

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        host, port = self.target.address
        _, self.conn = await asyncio.wait_for(loop.create_connection(HttpConnection, host, port), self.timeout)

    def close(self) -> None:
        if self.conn is not None and self.conn.transport is not None:
            self.conn.transport.close()
        self.conn = None

    async def request(self, raw: bytes, *, stream: bool) -> Outcome:
        try:
            if self.conn is None or self.conn.lost:
                await self.connect()
            conn = self.conn
            sent = await conn.send(raw)
            await asyncio.wait_for(conn.answer, self.timeout)
        except TimeoutError:
            self.close()
            return Outcome(False, "timeout")
        except (OSError, ConnectionError) as exc:
            self.close()
            return Outcome(False, type(exc).__name__)
        except Exception as exc:  # noqa: BLE001
            self.close()
            return Outcome(False, f"bad answer ({type(exc).__name__})")
        done = clock()
        if conn.close_after:
            self.close()
        ttfc = (conn.first_body - sent) if (stream and conn.first_body is not None) else None
        if conn.status != 200:
            return Outcome(False, f"HTTP {conn.status}", done - sent)
        problem = self.target.answer.problem(bytes(conn.body), stream=stream)
        if problem:
            return Outcome(False, problem, done - sent, ttfc)
        return Outcome(True, "", done - sent, ttfc)


@dataclass
class LoadResult:
    requests: int = 0
    ok: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    ttfcs: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)

    def add(self, outcome: Outcome) -> None:
        self.requests += 1
        if outcome.ok:
            self.ok += 1
            self.latencies.append(outcome.latency)
            if outcome.ttfc is not None:
                self.ttfcs.append(outcome.ttfc)
        else:
            self.errors[outcome.error] += 1

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def latency_ms(self, q: float) -> float | None:
        return percentile(self.latencies, q)

    def ttfc_ms(self, q: float) -> float | None:
        return percentile(self.ttfcs, q)

    def summary(self) -> dict:
        return {
            "requests": self.requests,
            "ok": self.ok,
            "elapsed_s": round(self.elapsed, 3),
            "rps": round(self.rps, 1),
            "p50_ms": _r(self.latency_ms(50)),
            "p95_ms": _r(self.latency_ms(95)),
            "p99_ms": _r(self.latency_ms(99)),
            "max_ms": _r(max(self.latencies) * 1000 if self.latencies else None),
            "ttfc_p50_ms": _r(self.ttfc_ms(50)),
            "ttfc_p99_ms": _r(self.ttfc_ms(99)),
            "errors": dict(self.errors),
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile in milliseconds (nearest rank), or None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[rank] * 1000


async def closed_loop(
    target: Target, body: dict, *, concurrency: int, duration: float, warmup: float = 1.0, timeout: float = 30.0
) -> LoadResult:
    """`concurrency` users send back-to-back requests for `warmup` + `duration` seconds; only the
    requests that start after the warm-up count."""
    raw = target.raw_request(body)
    stream = bool(body.get("stream"))
    result = LoadResult()
    clients = [Client(target, timeout) for _ in range(concurrency)]
    begin = clock()
    measure_from, stop_at = begin + warmup, begin + warmup + duration

    async def user(client: Client) -> None:
        while True:
            started = clock()
            if started >= stop_at:
                return
            outcome = await client.request(raw, stream=stream)
            if started >= measure_from:
                result.add(outcome)
            if not outcome.ok and outcome.error in ("ConnectionRefusedError", "timeout"):
                await asyncio.sleep(0.05)

    try:
        await asyncio.gather(*(user(client) for client in clients))
    finally:
        for client in clients:
            client.close()
    result.elapsed = clock() - measure_from
    return result


async def wave(
    target: Target, body: dict, *, count: int, timeout: float = 60.0, on_sent=None, connect_batch: int = 100
) -> LoadResult:
    """Open `count` connections, then send one request on each at the same instant; `elapsed` is
    the time from sending until the last answer finished. `on_sent()` is called right after."""
    raw = target.raw_request(body)
    stream = bool(body.get("stream"))
    clients = [Client(target, timeout) for _ in range(count)]
    result = LoadResult()
    try:
        for start in range(0, count, connect_batch):
            batch = clients[start : start + connect_batch]
            opened = await asyncio.gather(*(c.connect() for c in batch), return_exceptions=True)
            for client, outcome in zip(batch, opened, strict=True):
                if isinstance(outcome, BaseException):
                    client.conn = None
        begin = clock()
        tasks = [asyncio.ensure_future(client.request(raw, stream=stream)) for client in clients]
        if on_sent is not None:
            on_sent()
        for outcome in await asyncio.gather(*tasks):
            result.add(outcome)
        result.elapsed = clock() - begin
    finally:
        for client in clients:
            client.close()
    return result
