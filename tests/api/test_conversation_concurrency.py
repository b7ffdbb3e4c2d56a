"""Two requests on one conversation at once: the second gets 409 conversation_busy; turns never
interleave and none is lost."""

import threading
import time
from datetime import timedelta

import requests
from django.utils import timezone

from catalogue.models import Conversation


def _post(gateway, cid: str, text: str, **body) -> requests.Response:
    return gateway.post(
        "/v1/chat/completions",
        {"model": "fake-model", "conversation_id": cid, "messages": [{"role": "user", "content": text}], **body},
    )


def test_a_concurrent_request_is_rejected_with_409_while_a_turn_is_in_progress(gateway):
    gateway.add_provider("alpha")
    _post(gateway, "busy", "zero")
    gateway.fake.set_option("alpha", delay=0.6)
    results: dict[str, requests.Response] = {}
    slow = threading.Thread(target=lambda: results.setdefault("slow", _post(gateway, "busy", "slow one")))
    slow.start()
    try:
        deadline = time.monotonic() + 5
        while len(gateway.fake.requests_for("alpha")) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)  # the slow turn holds the conversation once the upstream has it
        second = _post(gateway, "busy", "second", stream=True)
    finally:
        slow.join(10)
    assert second.status_code == 409
    error = second.json()["error"]
    assert error["code"] == "conversation_busy" and error["param"] == "conversation_id"
    assert second.headers["retry-after"] == "1"
    assert results["slow"].status_code == 200
    # Another conversation was never blocked, and the busy one is free again.
    gateway.fake.set_option("alpha", delay=0.0)
    assert _post(gateway, "other", "x").status_code == 200
    assert _post(gateway, "busy", "third").status_code == 200
    contents = [m["content"] for m in gateway.get("/v1/conversations/busy").json()["messages"]]
    assert contents == [
        "zero",
        "Hello from alpha: zero",
        "slow one",
        "Hello from alpha: slow one",
        "third",
        "Hello from alpha: third",
    ]


def test_many_clients_retrying_on_409_lose_nothing_and_never_interleave(gateway):
    gateway.add_provider("alpha")
    gateway.fake.set_option("alpha", delay=0.02)
    clients, turns = 4, 3
    failures: list[str] = []

    def client(number: int) -> None:
        for turn in range(turns):
            text = f"client {number} turn {turn}"
            for _ in range(300):  # bounded retries
                response = _post(gateway, "crowd", text, stream=(turn % 2 == 1))
                if response.status_code != 409:
                    break
                time.sleep(0.01)
            if response.status_code != 200:
                failures.append(f"{text}: {response.status_code}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures and not any(t.is_alive() for t in threads)
    messages = gateway.get("/v1/conversations/crowd").json()["messages"]
    assert len(messages) == clients * turns * 2
    for user, reply in zip(messages[::2], messages[1::2], strict=False):  # each question, then its answer
        assert user["role"] == "user" and reply["role"] == "assistant"
        assert reply["content"] == f"Hello from alpha: {user['content']}"
    assert sorted(m["content"] for m in messages[::2]) == sorted(
        f"client {n} turn {t}" for n in range(clients) for t in range(turns)
    )


def test_a_stale_hold_from_a_crashed_process_expires(gateway):
    gateway.add_provider("alpha")
    assert _post(gateway, "stale", "one").status_code == 200
    held_by_a_dead_process = timezone.now() + timedelta(seconds=60)
    Conversation.objects.filter(id="stale").update(lease_token="dead", lease_until=held_by_a_dead_process)
    assert _post(gateway, "stale", "two").status_code == 409
    Conversation.objects.filter(id="stale").update(lease_until=timezone.now() - timedelta(seconds=1))
    assert _post(gateway, "stale", "two").status_code == 200
