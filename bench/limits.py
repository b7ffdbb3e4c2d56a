"""The limit store's own cost: CPU per admission plus release for a key with every limit set.

    .venv/bin/python -m bench.limits                       # the file store (a temporary file)
    .venv/bin/python -m bench.limits --redis redis://127.0.0.1:6379/0

Prints microseconds of CPU (and wall time) per request, measured in one process over N requests.
"""

import argparse
import asyncio
import os
import tempfile
import time

import django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis", default="", help="measure the Redis store at this URL")
    parser.add_argument("-n", type=int, default=20000)
    options = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "g4fsite.settings")
    django.setup()
    from catalogue.snapshot import ApiKeyEntry

    key = ApiKeyEntry(id=7, name="bench", prefix="", rpm=10**9, tpm=10**12, max_concurrent=10**5, budget=10.0**6)
    if options.redis:
        from completions.limits.file_store import FileKeyLimiter
        from completions.limits.redis_store import RedisKeyLimiter
        from completions.redis_link import redis_link

        fallback = FileKeyLimiter(os.path.join(tempfile.mkdtemp(), "fallback.bin"))
        limiter, label = RedisKeyLimiter(redis_link(options.redis), fallback), f"redis ({options.redis})"
    else:
        from completions.limits.file_store import FileKeyLimiter

        limiter, label = FileKeyLimiter(os.path.join(tempfile.mkdtemp(), "key-limits.bin")), "file"

    async def run() -> tuple[float, float]:
        for _ in range(100):  # warm up (connections, file)
            await limiter.release(await limiter.admit(key, 10), tokens=12, cost=1e-6)
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(options.n):
            await limiter.release(await limiter.admit(key, 10), tokens=12, cost=1e-6)
        return time.process_time() - cpu, time.perf_counter() - wall

    try:
        import uvloop  # as the gateway runs under uvicorn --loop uvloop

        cpu, wall = uvloop.run(run())
    except ImportError:
        cpu, wall = asyncio.run(run())
    print(f"{label}: {cpu / options.n * 1e6:.1f} µs CPU, {wall / options.n * 1e6:.1f} µs wall per admit + release")


if __name__ == "__main__":
    main()
