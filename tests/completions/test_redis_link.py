"""The request path's Redis link on the event loop production runs (uvloop): replies read however
the bytes arrive, AUTH and SELECT from the URL, and a connection that closed or hung under it failing
as "Redis unavailable" (the caller's fallback), never as an unhandled error."""

import asyncio
import socket
import time

import pytest
import redis
import uvloop

from completions.redis_link import RedisLink, RedisReplyError, RedisUnavailable, _RespProtocol
from tests.services import redis_service

# A Lua reply of every RESP2 kind: integer, bulk string, nil, nested and empty arrays, an error.
NESTED = "return {7, 'text', false, {1, {}}, redis.error_reply('BAD thing'), 'a\\r\\nb'}"


def test_a_command_on_a_connection_closed_under_it_reports_redis_unavailable(redis_server):
    async def scenario() -> tuple[object, str, object]:
        link = RedisLink(redis_server.url, timeout=2.0, retry_seconds=0.0)
        first = await link.call("SELECT", 0)
        # The transport closes (Redis stopped, say) before the protocol heard of it: uvloop raises
        # RuntimeError on a write to it, which reached the request as a 500.
        link._connection()._protocol.transport.abort()
        try:
            await link.call("SELECT", 0)
            outcome = "answered"
        except RedisUnavailable:
            outcome = "unavailable"
        again = await link.call("SELECT", 0)  # the next try reconnects
        return first, outcome, again

    first, outcome, again = uvloop.run(scenario())
    assert (first, outcome, again) == (b"OK", "unavailable", b"OK")


def raw_reply(port: int, command: bytes) -> bytes:
    """What Redis sends back for `command`, read from a plain socket."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(command + b"PING\r\n")  # PING's +PONG marks the end
        data = b""
        while not data.endswith(b"+PONG\r\n"):
            data += sock.recv(65536)
    return data[: -len(b"+PONG\r\n")]


def test_replies_of_every_kind_read_the_same_whichever_way_the_bytes_arrive(redis_server):
    async def scenario() -> object:
        return await RedisLink(redis_server.url, timeout=2.0).call("EVAL", NESTED, 0)

    reply = uvloop.run(scenario())
    assert reply[:4] == [7, b"text", None, [1, []]] and reply[5] == b"a\r\nb"
    assert isinstance(reply[4], RedisReplyError) and str(reply[4]) == "BAD thing"

    script = NESTED.encode()
    data = raw_reply(redis_server.port, b"*3\r\n$4\r\nEVAL\r\n$%d\r\n%s\r\n$1\r\n0\r\n" % (len(script), script))
    data += b"+OK\r\n"  # and a second reply behind it
    for size in range(1, len(data) + 1):  # fed in pieces of `size` bytes
        loop = asyncio.new_event_loop()
        try:
            protocol = _RespProtocol()
            first, second = loop.create_future(), loop.create_future()
            protocol.waiting.extend([first, second])
            for start in range(0, len(data), size):
                protocol.data_received(data[start : start + size])
            assert first.done() and second.done(), size
            got = first.result()
            assert got[:4] == reply[:4] and got[5] == reply[5] and str(got[4]) == str(reply[4])
            assert second.result() == b"OK" and protocol.buffer == b""
        finally:
            loop.close()


def test_the_urls_password_and_database_are_used():
    with redis_service("--requirepass", "s3cret") as server:

        async def scenario(url: str) -> object:
            link = RedisLink(url, timeout=2.0)
            try:
                return await link.call("SET", "written", "here")
            except RedisUnavailable as exc:
                return exc

        assert uvloop.run(scenario(f"redis://:s3cret@127.0.0.1:{server.port}/3")) == b"OK"
        for db, value in ((3, b"here"), (0, None)):
            client = redis.Redis(host="127.0.0.1", port=server.port, password="s3cret", db=db)
            try:
                assert client.get("written") == value
            finally:
                client.close()
        # A wrong password: Redis is unavailable to this process (the caller's fallback), not an error per command.
        assert isinstance(uvloop.run(scenario(f"redis://:wrong@127.0.0.1:{server.port}/3")), RedisUnavailable)


def test_a_server_that_never_answers_times_out_and_the_next_try_reconnects(redis_server):
    async def scenario() -> tuple[str, bytes]:
        link = RedisLink(redis_server.url, timeout=0.5, retry_seconds=0.0)
        await link.call("PING")
        redis_server.pause()
        try:
            await link.call("PING")
            outcome = "answered"
        except RedisUnavailable as exc:
            outcome = str(exc)
        finally:
            redis_server.resume()
        return outcome, await link.call("PING")

    outcome, again = uvloop.run(scenario())
    assert (outcome, again) == ("TimeoutError", b"PONG")


@pytest.mark.parametrize("garbage", [b"?what\r\n", b":1\r\n"])
def test_a_reply_that_is_not_resp_or_not_asked_for_drops_the_connection(garbage):
    loop = asyncio.new_event_loop()
    try:
        protocol, waiting = _RespProtocol(), loop.create_future()
        if garbage.startswith(b"?"):
            protocol.waiting.append(waiting)
        protocol.data_received(garbage)
        assert protocol.closed
        if garbage.startswith(b"?"):
            assert isinstance(waiting.exception(), ConnectionError)
    finally:
        loop.close()


def test_commands_of_one_turn_go_out_together_and_each_gets_its_own_reply(redis_server):
    async def scenario() -> tuple[int, list]:
        link = RedisLink(redis_server.url, timeout=2.0)
        await link.call("PING")
        calls = [asyncio.ensure_future(link.call("INCRBY", "counter", step)) for step in range(1, 51)]
        await asyncio.sleep(0)  # every call has queued its command; the flush comes at the turn's end
        queued = len(link._connection()._protocol.outgoing)
        return queued, await asyncio.gather(*calls)

    queued, replies = uvloop.run(scenario())
    assert queued == 50
    assert replies == [step * (step + 1) // 2 for step in range(1, 51)]  # in order, each its own


def seen_by_another_client(url: str, key: str, seconds: float = 2.0) -> bytes | None:
    """The key's value as a separate blocking client reads it (this thread's event loop stands still)."""
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        for _ in range(int(seconds / 0.02)):
            value = client.get(key)
            if value is not None:
                return value
            time.sleep(0.02)  # blocking: this thread's event loop does nothing meanwhile
        return None
    finally:
        client.close()


def test_a_command_sent_now_is_written_before_start_returns(redis_server):
    """An admission is started, then the request's body is parsed while it travels: the command must
    be on the wire before the caller goes on, not at the end of the loop's turn."""

    async def scenario() -> tuple[bytes | None, object, bytes | None, list]:
        link = RedisLink(redis_server.url, timeout=2.0)
        await link.call("PING")
        sent_now = link.start("SET", "now", "1", now=True)
        seen_now = seen_by_another_client(redis_server.url, "now")  # without yielding to the loop
        # Commands already waiting for the turn's end go first: one sent now joins them, in order.
        queued = link.start("SET", "queued", "1")
        behind = link.start("GET", "queued", now=True)
        seen_queued = seen_by_another_client(redis_server.url, "queued", seconds=0.3)
        return seen_now, await sent_now, seen_queued, [await queued, await behind]

    seen_now, reply, seen_queued, replies = uvloop.run(scenario())
    assert (seen_now, reply) == (b"1", b"OK")
    assert seen_queued is None and replies == [b"OK", b"1"]
