"""Ways the self-tests talk to the fake upstream: raw `requests`, SSE bodies, the `openai` SDK."""

from __future__ import annotations

import openai
import requests

from tests.fake_upstream import FakeUpstream

HELLO = [{"role": "user", "content": "hi there"}]
TOOLS = [
    {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "other", "parameters": {"type": "object"}}},
]


def chat(
    fake: FakeUpstream, provider: str = "alpha", headers: dict | None = None, timeout: float = 10, **body
) -> requests.Response:
    """POST a chat completion (``fake-model``, ``HELLO`` unless ``body`` says otherwise) to ``provider``."""
    body = {"model": "fake-model", "messages": HELLO, **body}
    return requests.post(f"{fake.provider_url(provider)}/chat/completions", json=body, headers=headers, timeout=timeout)


def sse_data(text: str) -> list[str]:
    """The payloads of the ``data:`` events of an SSE body."""
    return [block[len("data: ") :] for block in text.split("\n\n") if block.startswith("data: ")]


def client(fake: FakeUpstream, provider: str = "alpha", **options) -> openai.OpenAI:
    """An `openai` SDK client for ``provider`` on the fake, without retries."""
    return openai.OpenAI(base_url=fake.provider_url(provider), api_key="sk-test", max_retries=0, **options)
