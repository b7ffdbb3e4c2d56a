"""The gateway served for real by uvicorn on 127.0.0.1, in a thread of the test process, with the
HTTP protocol `g4f api` serves with (`g4fsite.http_protocol`).

Running in-process lets tests set up the catalogue with the ORM (the server thread shares the test
database) while every request still crosses a real socket, the ASGI server and the consumer.
"""

import socket
import threading
import time
from typing import Any

import openai
import requests
import uvicorn

from catalogue import services
from g4fsite.http_protocol import HTTP_PROTOCOL
from tests.fake_upstream import FakeUpstream


class GatewayServer:
    def __init__(self) -> None:
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None
        self.port = 0

    def start(self) -> "GatewayServer":
        from g4fsite.asgi import application

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(2048)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            application, http=HTTP_PROTOCOL, lifespan="off", log_config=None, timeout_graceful_shutdown=2
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, name="gateway", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("The gateway server did not start.")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(10)
            if self.thread.is_alive():
                raise RuntimeError("The gateway server thread did not stop.")
        self.server = self.thread = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Gateway:
    """What a test needs: the server's URLs, clients, and a catalogue pointed at the fake upstream."""

    def __init__(self, server: GatewayServer, fake: FakeUpstream) -> None:
        self.server = server
        self.fake = fake
        self.url = server.url

    def openai(self, api_key: str = "unused", **kwargs: Any) -> openai.OpenAI:
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 20)
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=api_key, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 20)
        return requests.post(self.url + path, json=json, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 20)
        return requests.get(self.url + path, **kwargs)

    def add_provider(
        self,
        name: str,
        *,
        models: tuple[str, ...] | list[str] = ("fake-model",),
        capabilities: tuple[str, ...] = ("chat", "vision", "tools", "json"),
        adapter: str = "openai",
        base_url: str | None = None,
        **fields: Any,
    ) -> None:
        """Add (or update) a provider served by the fake upstream, mapping each model to itself."""
        protocol = {"anthropic": "anthropic", "gemini": "gemini"}.get(adapter, "openai")
        entry = {
            "name": name,
            "adapter": adapter,
            "base_url": base_url or self.fake.provider_url(name, protocol),
            "models": [{"name": m, "upstream": m, "capabilities": list(capabilities)} for m in models],
            **fields,
        }
        services.catalogue_import(data={"providers": [entry]})
