"""Issue 13 item 10 (upstream part): one provider's slow answers cannot take the whole upstream pool,
and local speech runs a bounded number of espeak-ng processes, queueing the rest with a timeout."""

import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import add_local_speech, wait_until
from tests.security.gateways import own_gateway  # noqa: F401

CHAT = {"messages": [{"role": "user", "content": "hi"}]}


def test_a_provider_that_hangs_holds_only_its_own_connections(own_gateway):  # noqa: F811
    gateway = own_gateway(MAX_CONNECTIONS=6, PROVIDER_MAX_CONNECTIONS=3)
    gateway.add_provider("hog", models=["hog-model"], timeout=2)
    gateway.add_provider("other", models=["fake-model"])
    gateway.fake.set_fault("hog", "hang")  # answers nothing until the gateway gives up
    with ThreadPoolExecutor(8) as pool:
        hogs = [pool.submit(gateway.post, "/v1/chat/completions", {**CHAT, "model": "hog-model"}) for _ in range(8)]
        assert wait_until(lambda: gateway.fake.open_connections("hog") >= 3)
        time.sleep(0.2)  # let any request beyond the provider's limit reach the pool
        assert gateway.fake.open_connections("hog") == 3
        started = time.monotonic()
        answer = gateway.post("/v1/chat/completions", {**CHAT, "model": "fake-model"})
        waited = time.monotonic() - started
        assert answer.status_code == 200 and answer.json()["provider"] == "other"
        assert waited < 1.0, f"another provider's request waited {waited:.2f}s for a connection"
        statuses = sorted(hog.result().status_code for hog in hogs)
    assert set(statuses) <= {503, 504}, statuses  # timed out upstream, or never got a slot (provider_busy)


def test_by_default_one_provider_alone_may_hold_more_than_a_hundred_requests(own_gateway):  # noqa: F811
    """The per-provider bound leaves room for a busy single-provider gateway (issue 8's 200-request
    burst and 1,000 held streams): 150 slow requests to one provider are all in flight upstream."""
    gateway = own_gateway()
    gateway.add_provider("busy", models=["busy-model"], timeout=3)
    gateway.fake.set_fault("busy", "hang")
    with ThreadPoolExecutor(150) as pool:
        waiting = [
            pool.submit(gateway.post, "/v1/chat/completions", {**CHAT, "model": "busy-model"}) for _ in range(150)
        ]
        reached = wait_until(lambda: gateway.fake.open_connections("busy") >= 150, timeout=2.5)
        most = gateway.fake.open_connections("busy")
        statuses = {answer.result().status_code for answer in waiting}
    assert reached, f"only {most} of 150 requests reached the provider"
    assert statuses == {504}, statuses  # each timed out upstream; none was refused for want of a slot


def espeak_processes() -> int:
    """espeak-ng programs running as children of this process (the live gateway runs in it)."""
    me, count = str(os.getpid()), 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                program = cmdline.read().split(b"\0", 1)[0]
        except OSError:
            continue
        count += fields[1] == me and program.endswith(b"espeak-ng")
    return count


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_local_speech_runs_a_bounded_number_of_processes(gateway, settings):
    settings.G4F = {**settings.G4F, "LOCAL_SPEECH_MAX_PROCESSES": 1, "LOCAL_SPEECH_QUEUE_TIMEOUT": 0.2}
    add_local_speech("tts-local")
    body = {
        "model": "tts-local",
        "voice": "alloy",
        "input": "A long sentence to speak. " * 150,
        "response_format": "wav",
    }
    most, done = 0, threading.Event()

    def watch():
        nonlocal most
        while not done.is_set():
            most = max(most, espeak_processes())
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: gateway.post("/v1/audio/speech", body, timeout=30), range(4)))
    finally:
        done.set()
        watcher.join(5)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses[0] == 200 and 503 in statuses, statuses
    busy = next(answer for answer in answers if answer.status_code == 503)
    assert busy.json()["error"]["code"] == "local_speech_busy" and busy.headers["retry-after"] == "1"
    assert most == 1, f"{most} espeak-ng processes ran at once"
