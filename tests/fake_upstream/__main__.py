"""Serve the fake upstream standalone, e.g. for a benchmark: ``python -m tests.fake_upstream --port 9100``."""

from __future__ import annotations

import argparse
import threading

from .server import FakeUpstream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args()
    fake = FakeUpstream(host=args.host, port=args.port, access_log=False).start()
    print(
        f"fake upstream on {fake.base_url}, OpenAI base URL {fake.provider_url('<provider>')}; Ctrl+C stops", flush=True
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
