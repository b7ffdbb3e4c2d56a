"""gunicorn settings for the gateway, with uvicorn workers (the maintained `uvicorn-worker` package):

    gunicorn g4fsite.asgi:application -c python:g4fsite.gunicorn_conf -w 2 -b 127.0.0.1:1337

Flags given on the command line win over the values here. Before the first worker starts, the
supervisor does what `g4f api` does (`g4fsite.api.serving_prepare`): `G4F_*` settings, migrations
under the start-up lock, the seeded catalogue, the refusal of a non-loopback bind without an API key
(`G4F_NO_AUTH_ON_NETWORK=1` to serve anyway), ALLOWED_HOSTS and the metrics directory. Each worker
then drains like `g4f api`: on SIGTERM gunicorn closes the listening sockets, each worker lets its
requests and streams finish, writes its queued usage rows (ASGI lifespan) and exits, all within
`--graceful-timeout` (default G4F_GRACEFUL_TIMEOUT, 30 s), after which gunicorn kills what is left.
"""

import os

worker_class = "uvicorn_worker.UvicornWorker"  # uvloop and httptools when installed (uvicorn[standard])
bind = [f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '1337')}"]
graceful_timeout = round(float(os.environ.get("G4F_GRACEFUL_TIMEOUT") or 30))  # gunicorn takes whole seconds
# gunicorn 27's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl): two
# instances on one machine would take it from each other. The gateway needs none.
control_socket_disable = True
# Seconds of the graceful timeout kept for the last usage flush: requests still running then are cancelled.
FLUSH_MARGIN = 2.0


def on_starting(server) -> None:
    """In the supervisor, once, before any worker: the start-up `g4f api` does."""
    from g4fsite.api import serving_prepare

    hosts = [address[0] for address in server.cfg.address if isinstance(address, tuple)]
    serving_prepare(hosts, server.cfg.workers)


def post_worker_init(worker) -> None:
    """In each worker, before it serves: the lifespan on (the usage flush at shutdown), `g4f api`'s
    HTTP protocol, and the drain bounded so that the flush still fits in gunicorn's graceful timeout."""
    from g4fsite.http_protocol import HTTP_PROTOCOL

    worker.config.lifespan = "on"
    worker.config.http = HTTP_PROTOCOL
    worker.config.timeout_graceful_shutdown = max(worker.cfg.graceful_timeout - FLUSH_MARGIN, 0.1)
