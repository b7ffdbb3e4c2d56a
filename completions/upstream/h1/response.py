"""`H1Response`: an answer read from one pooled connection, as an `UpstreamResponse`."""

import asyncio
import codecs
import zlib
from collections.abc import AsyncIterator

import httpx2
from multidict import CIMultiDict, CIMultiDictProxy

from completions import errors
from completions.upstream.h1.connection import Connection, Pool
from completions.upstream.transport import BEFORE_UPSTREAM_WAIT, line_batches

UNLIMITED = 1 << 62


class Limits:
    """The caps on an answer's decoded bytes: a body read whole, one stream line, a whole stream."""

    __slots__ = ("body", "line", "stream")

    def __init__(self, body: int, line: int, stream: int) -> None:
        self.body, self.line, self.stream = body, line, stream


class Decoder:
    """Inflates a `gzip` or `deflate` body in bounded pieces (a zlib stream or, as some servers send
    for `deflate`, a raw one)."""

    def __init__(self, encoding: str) -> None:
        self.gzip = encoding in ("gzip", "x-gzip")
        self.inflate = zlib.decompressobj(31 if self.gzip else 15)
        self.started = False

    def decode(self, data: bytes, room: int) -> bytes:
        """Up to `room` + 1 bytes inflated from `data` (more than `room`: the caller's cap is passed)."""
        if not self.started and data:
            self.started = True
            if not self.gzip and (data[0] & 0x0F) != 8:  # no zlib header: raw deflate
                self.inflate = zlib.decompressobj(-15)
        try:
            return self.inflate.decompress(data, room + 1)
        except zlib.error as exc:
            raise httpx2.DecodingError(f"The upstream's answer could not be decoded: {exc}") from None

    def flush(self) -> bytes:
        try:
            return self.inflate.flush()
        except zlib.error as exc:
            raise httpx2.DecodingError(f"The upstream's answer could not be decoded: {exc}") from None


class H1Response:
    """An answer read from one pooled connection, as an `UpstreamResponse`."""

    __slots__ = ("_pool", "_connection", "_limits", "_read_timeout", "_decoder", "status_code", "headers")
    __slots__ += ("content", "_released")

    def __init__(self, pool: Pool, connection: Connection, limits: Limits, read_timeout) -> None:
        self._pool = pool
        self._connection = connection
        self._limits = limits
        self._read_timeout = read_timeout
        self.status_code = connection.status
        self.headers = CIMultiDictProxy(CIMultiDict(connection.header_list))
        self.content = b""
        self._released = False
        encoding = self.headers.get("content-encoding", "").strip().lower()
        self._decoder = Decoder(encoding) if encoding in ("gzip", "x-gzip", "deflate") else None

    @property
    def charset(self) -> str | None:
        content_type = self.headers.get("content-type", "")
        for parameter in content_type.split(";")[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "charset":
                value = value.strip().strip('"')
                try:
                    return codecs.lookup(value).name if value else None
                except LookupError:
                    return None
        return None

    @property
    def text(self) -> str:
        return self.content.decode(self.charset or "utf-8", errors="replace")

    def release(self) -> None:
        """Give the connection back (kept if the answer was read to the end, else closed)."""
        if not self._released:
            self._released = True
            self._pool.give_back(self._connection, asyncio.get_running_loop().time())

    def _too_large(self, what: str, limit: int) -> errors.UpstreamResponseTooLarge:
        self._connection.close()  # the rest is never read: drop the connection rather than drain it
        return errors.UpstreamResponseTooLarge(f"The provider's {what} is larger than the {limit} bytes accepted.")

    async def _pieces(self, limit: int, what: str) -> AsyncIterator[bytes]:
        """The decoded body as it arrives, `limit` bytes at most (then UpstreamResponseTooLarge):
        all that is buffered at once, then one wait at a time, before which a stream relay's
        `BEFORE_UPSTREAM_WAIT` runs."""
        connection, decoder, size, last = self._connection, self._decoder, 0, False
        while not last:
            if connection.buffered:
                data = connection.take_body()
                if decoder is not None:
                    data = decoder.decode(data, limit - size)
            elif connection.complete:
                data, last = (decoder.flush() if decoder is not None else b""), True
            else:
                before_wait = BEFORE_UPSTREAM_WAIT.get()
                if before_wait is not None:
                    await before_wait()
                await connection.wait(self._read_timeout)
                continue
            size += len(data)
            if size > limit:
                raise self._too_large(what, limit)
            if data:
                yield data

    async def aread(self) -> bytes:
        limit = self._limits.body
        declared = self.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit and self._decoder is None:
            raise self._too_large("answer", limit)
        chunks = [chunk async for chunk in self._pieces(limit, "answer")]
        self.content = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return self.content

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        return self._pieces(UNLIMITED, "answer")

    async def aiter_lines(self) -> AsyncIterator[str]:
        """The lines of `aiter_line_batches`, one by one."""
        async for lines in self.aiter_line_batches():
            for line in lines:
                yield line

    def aiter_line_batches(self) -> AsyncIterator[list[str]]:
        max_line = self._limits.line
        pieces = self._pieces(self._limits.stream, "stream")
        return line_batches(pieces, self.charset, max_line, lambda: self._too_large("stream line", max_line))
