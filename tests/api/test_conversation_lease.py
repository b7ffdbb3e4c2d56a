"""The lease on a conversation is renewed while its turn runs: a long stream keeps it, and a holder
that died (never renews) frees it soon after the short expiry."""

import threading
import time

import requests

from catalogue.models import Conversation
from completions.conversations import store
from g4fsite.conf import DEFAULTS, gateway_settings


def _turn(gateway, cid: str, text: str, **body) -> requests.Response:
    return gateway.post(
        "/v1/chat/completions",
        {"model": "fake-model", "conversation_id": cid, "messages": [{"role": "user", "content": text}], **body},
    )


def test_a_stream_longer_than_the_lease_keeps_its_conversation(gateway, settings):
    gateway.add_provider("alpha")
    settings.G4F = {**settings.G4F, "CONVERSATION_LEASE_SECONDS": 0.6}  # renewed every 0.2 s
    gateway.fake.set_option("alpha", chunks=10, chunk_delay=0.2)  # a stream of about 2 s
    streamed: dict[str, str] = {}

    def stream() -> None:
        with requests.post(
            f"{gateway.url}/v1/chat/completions",
            json={
                "model": "fake-model",
                "conversation_id": "long",
                "stream": True,
                "messages": [{"role": "user", "content": "tell me"}],
            },
            stream=True,
            timeout=20,
        ) as response:
            streamed["status"] = str(response.status_code)
            streamed["body"] = response.text

    holder = threading.Thread(target=stream)
    started = time.monotonic()
    holder.start()
    try:
        answers = []
        for wait_until in (0.9, 1.5):  # both past the lease's first expiry
            time.sleep(max(0.0, started + wait_until - time.monotonic()))
            answers.append(_turn(gateway, "long", "me too").status_code)
    finally:
        holder.join(20)
    assert time.monotonic() - started > 1.5 and not holder.is_alive()
    assert answers == [409, 409]
    assert streamed["status"] == "200" and "[DONE]" in streamed["body"]
    messages = gateway.get("/v1/conversations/long").json()["messages"]
    assert [(m["content"], m["incomplete"]) for m in messages] == [
        ("tell me", False),
        ("Hello from alpha: tell me", False),
    ]
    assert Conversation.objects.get(id="long").lease_until is None  # released, and no longer renewed
    gateway.fake.set_option("alpha", chunk_delay=0.0)
    assert _turn(gateway, "long", "next").status_code == 200


def test_a_lease_whose_holder_died_is_free_after_its_short_expiry(gateway, settings):
    gateway.add_provider("alpha")
    assert DEFAULTS["CONVERSATION_LEASE_SECONDS"] <= 30  # a crash frees a conversation within half a minute
    settings.G4F = {**settings.G4F, "CONVERSATION_LEASE_SECONDS": 0.5}
    # A process claims the conversation, then dies: nothing ever renews or releases its lease.
    store.conversation_claim(
        conversation_id="orphan",
        owner="",
        api_key_id=None,
        model="fake-model",
        lease_seconds=gateway_settings.CONVERSATION_LEASE_SECONDS,
    )
    assert _turn(gateway, "orphan", "now").status_code == 409
    time.sleep(0.7)
    answer = _turn(gateway, "orphan", "later")
    assert answer.status_code == 200
    assert [m["content"] for m in gateway.get("/v1/conversations/orphan").json()["messages"]] == [
        "later",
        "Hello from alpha: later",
    ]
