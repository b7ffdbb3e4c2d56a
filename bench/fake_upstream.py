"""A fast fake OpenAI-compatible upstream for the benchmark: a raw asyncio protocol on uvloop.

The test fake (`tests/fake_upstream`, uvicorn + ASGI, fault modes, request log) tops out near
2,000 req/s on one core, which would make it the bottleneck; this one parses just enough HTTP/1.1
(keep-alive, content-length or chunked request bodies) and answers from pre-built bytes.

    python -m bench.fake_upstream --port 9100 [--chunks 20]

Answer timing comes from the base URL's path, so each target can be pointed at a "slow" or
"held" upstream by URL alone (every gateway under test lets an operator set a base URL):

    http://127.0.0.1:9100/v1                      answers at once
    http://127.0.0.1:9100/delay-1000/v1           waits 1,000 ms before answering
    http://127.0.0.1:9100/span-10000/v1           spreads a stream's chunks over 10,000 ms

`POST .../chat/completions` answers a `chat.completion`, or with `"stream": true` the same text as
`--chunks` `chat.completion.chunk` events (+ a usage chunk when `stream_options.include_usage`) and
`data: [DONE]`. `POST .../v1/messages` (Anthropic) and `POST .../responses` (OpenAI's Responses
API) answer the same text in their own shapes, streamed as that many text deltas in their own event
sequences (`fake_protocols.py`). `GET .../models` lists the model. Anything else is a 404 in
OpenAI's error shape.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import orjson

from bench import fake_protocols

WORDS = "The quick brown fox jumps over the lazy dog and keeps running far away".split()
USAGE = {"prompt_tokens": 8, "completion_tokens": 20, "total_tokens": 28}


def _answer_text(chunks: int) -> list[str]:
    return [WORDS[i % len(WORDS)] + " " for i in range(chunks)]


def _chunk(index: int, pieces: list[str], model: str) -> bytes:
    finish = index == len(pieces) - 1
    delta = {"role": "assistant", "content": pieces[index]} if index == 0 else {"content": pieces[index]}
    event = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": "stop" if finish else None}],
    }
    return b"data: " + orjson.dumps(event) + b"\n\n"


def _http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class Answers:
    """Pre-built response bytes; only `model` and `created` vary, and only on the stream path."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        self.pieces = _answer_text(chunks)
        self.texts = tuple(self.pieces)

    def whole(self, protocol: str, model: str) -> bytes:
        """A whole HTTP response in `protocol` ("chat", "messages" or "responses")."""
        if protocol == "messages":
            return fake_protocols.messages_answer(model, self.texts)
        if protocol == "responses":
            return fake_protocols.responses_answer(model, self.texts)
        return self.completion(model)

    def events(self, protocol: str, model: str, include_usage: bool) -> list[bytes] | tuple[bytes, ...]:
        """A stream's events in `protocol`, without HTTP framing."""
        if protocol == "messages":
            return fake_protocols.messages_events(model, self.texts)
        if protocol == "responses":
            return fake_protocols.responses_events(model, self.texts)
        return self.stream_events(model, include_usage)

    def completion(self, model: str) -> bytes:
        body = orjson.dumps(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "system_fingerprint": "fp_bench",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(self.pieces), "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": USAGE,
            }
        )
        return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)

    def stream_events(self, model: str, include_usage: bool) -> list[bytes]:
        events = [_chunk(i, self.pieces, model) for i in range(self.chunks)]
        if include_usage:
            usage = {
                "id": "chatcmpl-bench",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [],
                "usage": USAGE,
            }
            events.append(b"data: " + orjson.dumps(usage) + b"\n\n")
        events.append(b"data: [DONE]\n\n")
        return events


STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
)


def _simple(status: bytes, body: bytes) -> bytes:
    return b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (status, len(body), body)


NOT_FOUND = _simple(
    b"404 Not Found",
    orjson.dumps(
        {
            "error": {
                "message": "No such route on the bench upstream.",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
    ),
)
BAD_REQUEST = _simple(
    b"400 Bad Request",
    orjson.dumps(
        {
            "error": {
                "message": "The body is not a JSON object with messages.",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
    ),
)


def timing(path: str) -> tuple[float, float]:
    """(delay, span) in seconds from `/delay-MS/` and `/span-MS/` path segments."""
    delay = span = 0.0
    for segment in path.split("/"):
        if segment.startswith("delay-") and segment[6:].isdigit():
            delay = int(segment[6:]) / 1000
        elif segment.startswith("span-") and segment[5:].isdigit():
            span = int(segment[5:]) / 1000
    return delay, span


class UpstreamProtocol(asyncio.Protocol):
    """One keep-alive connection; requests on it are answered in order."""

    def __init__(self, answers: Answers) -> None:
        self.answers = answers
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.busy = False  # a slow answer is in flight; pipelined requests wait in the buffer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.process()

    def process(self) -> None:
        while not self.busy and self.transport is not None:
            request = self.take_request()
            if request is None:
                return
            self.dispatch(*request)

    def take_request(self) -> tuple[str, str, bytes] | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = self.buffer[:end].decode("latin-1")
        lines = head.split("\r\n")
        try:
            method, target, _ = lines[0].split(" ", 2)
        except ValueError:
            self.transport.close()
            return None
        length, chunked = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        start = end + 4
        if chunked:
            parsed = _dechunk(self.buffer, start)
            if parsed is None:
                return None
            body, consumed = parsed
        else:
            if len(self.buffer) - start < length:
                return None
            body, consumed = self.buffer[start : start + length], start + length
        self.buffer = self.buffer[consumed:]
        return method, target.split("?", 1)[0], body

    def dispatch(self, method: str, path: str, body: bytes) -> None:
        protocol = _protocol(path) if method == "POST" else None
        if protocol is not None:
            try:
                request = orjson.loads(body)
                model = str(request.get("model", ""))
                stream = bool(request.get("stream"))
                include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
            except (orjson.JSONDecodeError, AttributeError):
                self.transport.write(BAD_REQUEST)
                return
            delay, span = timing(path)
            if delay or (stream and span):
                self.busy = True
                asyncio.ensure_future(self.answer_later(protocol, model, stream, include_usage, delay, span))
            elif stream:
                events = self.answers.events(protocol, model, include_usage)
                self.transport.write(STREAM_HEAD + b"".join(_http_chunk(e) for e in events) + b"0\r\n\r\n")
            else:
                self.transport.write(self.answers.whole(protocol, model))
        elif method == "GET" and path.endswith("/models"):
            body = orjson.dumps(
                {
                    "object": "list",
                    "data": [{"id": "bench-model", "object": "model", "created": 0, "owned_by": "bench"}],
                }
            )
            self.transport.write(_simple(b"200 OK", body))
        else:
            self.transport.write(NOT_FOUND)

    async def answer_later(
        self, protocol: str, model: str, stream: bool, include_usage: bool, delay: float, span: float
    ) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
            if self.transport is None:
                return
            if not stream:
                self.transport.write(self.answers.whole(protocol, model))
                return
            events = self.answers.events(protocol, model, include_usage)
            self.transport.write(STREAM_HEAD)
            gap = span / max(1, len(events) - 1)
            for index, event in enumerate(events):
                if index and gap:
                    await asyncio.sleep(gap)
                if self.transport is None:
                    return
                self.transport.write(_http_chunk(event))
            self.transport.write(b"0\r\n\r\n")
        finally:
            self.busy = False
            if self.transport is not None and self.buffer:
                self.process()


def _protocol(path: str) -> str | None:
    """Which API a POST to `path` speaks: "chat", "messages", "responses", or None (a 404)."""
    if path.endswith("/chat/completions"):
        return "chat"
    if path.endswith("/v1/messages"):
        return "messages"
    if path.endswith("/responses"):
        return "responses"
    return None


def _dechunk(buffer: bytes, start: int) -> tuple[bytes, int] | None:
    """A chunked body starting at `start`: (body, end offset), or None when incomplete."""
    parts, pos = [], start
    while True:
        line_end = buffer.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(buffer[pos:line_end].split(b";", 1)[0], 16)
        pos = line_end + 2
        if size == 0:
            trailer_end = buffer.find(b"\r\n", pos)
            if trailer_end < 0:
                return None
            return b"".join(parts), trailer_end + 2
        if len(buffer) < pos + size + 2:
            return None
        parts.append(buffer[pos : pos + size])
        pos += size + 2


async def serve(host: str, port: int, chunks: int, ready: str = "") -> None:
    loop = asyncio.get_running_loop()
    answers = Answers(chunks)
    server = await loop.create_server(lambda: UpstreamProtocol(answers), host, port, backlog=4096, reuse_address=True)
    bound = server.sockets[0].getsockname()[1]
    print(f"bench fake upstream on http://{host}:{bound}/v1 (pid {os.getpid()})", flush=True)
    if ready:
        with open(ready + ".tmp", "w") as handle:
            handle.write(str(bound))
        os.replace(ready + ".tmp", ready)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--chunks", type=int, default=20, help="events in a streamed answer")
    parser.add_argument("--ready-file", default="", help="write the bound port here once listening")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(serve(args.host, args.port, args.chunks, args.ready_file))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
