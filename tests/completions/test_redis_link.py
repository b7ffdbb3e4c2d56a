"""The request path's Redis link on the event loop production runs (uvloop): a connection that
closed under it fails as "Redis unavailable" (the caller's fallback), never as an unhandled error."""

import asyncio

import uvloop

from completions.redis_link import RedisLink, RedisUnavailable


def test_a_command_on_a_connection_closed_under_it_reports_redis_unavailable(redis_server):
    async def scenario() -> tuple[object, str, object]:
        link = RedisLink(redis_server.url, timeout=2.0, retry_seconds=0.0)
        first = await link.call("SELECT", 0)
        # The transport closes (Redis stopped, say) before the reader task noticed: uvloop raises
        # RuntimeError on a write to it, which reached the request as a 500.
        link._connection()._writer.transport.abort()
        await asyncio.sleep(0)  # the handle is closed now; the reader task has not run yet
        try:
            await link.call("SELECT", 0)
            outcome = "answered"
        except RedisUnavailable:
            outcome = "unavailable"
        again = await link.call("SELECT", 0)  # the next try reconnects
        return first, outcome, again

    first, outcome, again = uvloop.run(scenario())
    assert (first, outcome, again) == (b"OK", "unavailable", b"OK")
