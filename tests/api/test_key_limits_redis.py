"""Tokens per minute, requests in flight and budgets hold across two gateway instances that share
only a real Redis server (and the database), as two machines behind a load balancer would.

Each test alternates its requests between the two instances: an instance that kept its own count
would let through what the other had already taken. (Requests per minute across instances:
`test_key_limits_processes.py`.)"""

import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.cli.servers import G4F, ServerProcess, data_dir_with, manage
from tests.helpers import wait_until
from tests.services import REDIS, redis_running

pytestmark = [pytest.mark.slow, pytest.mark.skipif(REDIS is None, reason="redis-server is not installed")]
PROVIDERS = {  # provider -> its one model entry (a price in USD per million tokens)
    "wordy": {"name": "wordy-model"},
    "slow": {"name": "slow-model"},
    "streamy": {"name": "stream-model"},
    "quick": {"name": "quick-model"},
    "priced": {"name": "priced-model", "price": {"input": 100_000, "output": 100_000}},
}


@dataclass
class Pair:
    """Two instances sharing Redis and the database; keys are made with `create_key`."""

    a: ServerProcess
    b: ServerProcess
    data_dir: Path
    shared: dict[str, str]

    def create_key(self, name: str, *flags: str) -> str:
        return manage(self.data_dir, "apikey", "create", name, *flags, **self.shared).strip().splitlines()[-1]


@pytest.fixture(scope="module")
def pair(tmp_path_factory, fake_upstream) -> Iterator[Pair]:
    migrated = tmp_path_factory.mktemp("redis-template") / "data"
    manage(migrated, "migrate", "--noinput")
    catalogue = {
        "providers": [
            {
                "name": name,
                "base_url": fake_upstream.provider_url(name),
                "status": "working",
                "models": [{**model, "upstream": model["name"], "capabilities": ["chat"]}],
            }
            for name, model in PROVIDERS.items()
        ]
    }
    machine_a = data_dir_with(migrated, tmp_path_factory.mktemp("redis-a") / "data", catalogue)
    machine_b = tmp_path_factory.mktemp("redis-b") / "data"
    shutil.copytree(migrated, machine_b)
    with redis_running() as url:
        shared = {"REDIS_URL": url, "G4F_DB_PATH": str(machine_a / "db.sqlite3")}
        a = ServerProcess([G4F, "api"], machine_a, env=shared)
        b = ServerProcess([G4F, "api"], machine_b, env=shared)
        try:
            a.start()
            b.start()
            yield Pair(a, b, machine_a, shared)
        finally:
            a.stop()
            b.stop()


def chat(server: ServerProcess, key: str, model: str, content: str = "hi", **body) -> requests.Response:
    messages = [{"role": "user", "content": content}]
    headers = {"authorization": f"Bearer {key}"}
    return server.post("/v1/chat/completions", {"model": model, "messages": messages, **body}, headers=headers)


def refused(response: requests.Response, code: str = "rate_limit_exceeded") -> bool:
    return response.status_code == 429 and response.json()["error"]["code"] == code


def test_tpm_counts_tokens_from_usage_across_instances(pair, fake):
    fake.set_option("wordy", content=" ".join(["word"] * 120))  # 1 prompt + 120 completion tokens
    key = pair.create_key("tokens", "--tpm", "200")
    first = chat(pair.a, key, "wordy-model")
    assert first.status_code == 200 and first.headers["x-ratelimit-limit-tokens"] == "200"
    second = chat(pair.b, key, "wordy-model")  # 121 + this request's small estimate: under 200
    assert second.status_code == 200
    assert int(second.headers["x-ratelimit-remaining-tokens"]) < 200 - 121  # B counted A's usage
    for server in (pair.a, pair.b):  # 242 counted: over the limit on both
        third = chat(server, key, "wordy-model")
        assert refused(third) and "tokens per minute" in third.json()["error"]["message"], third.text
        assert third.headers["x-ratelimit-remaining-tokens"] == "0" and third.headers["retry-after"]


def test_tpm_reserves_the_estimate_at_admission_across_instances(pair, fake):
    fake.set_option("slow", delay=3.0)
    key = pair.create_key("estimate", "--tpm", "100")
    prompt = "x" * 240  # about 75 tokens estimated (a quarter of the body's bytes); 1 word for the fake
    answers: list[requests.Response] = []
    in_flight = threading.Thread(target=lambda: answers.append(chat(pair.a, key, "slow-model", prompt)))
    in_flight.start()
    try:
        assert wait_until(lambda: len(fake.requests_for("slow")) == 1, timeout=20)
        started = time.monotonic()
        meanwhile = chat(pair.b, key, "quick-model", prompt)  # 75 reserved on A + 75 > 100
        assert refused(meanwhile) and time.monotonic() - started < 2.0, meanwhile.text
    finally:
        in_flight.join(30)
    assert answers and answers[0].status_code == 200
    # A's answer used 2 tokens: its reservation was corrected down, so B has room again.
    assert chat(pair.b, key, "quick-model", prompt).status_code == 200


def test_max_concurrent_is_exact_across_instances_and_refuses_at_once(pair, fake):
    fake.set_option("slow", delay=4.0)
    key = pair.create_key("inflight", "--max-concurrent", "3")
    servers = [pair.a, pair.b]

    def one(index: int) -> tuple[int, str | None, float]:
        started = time.monotonic()
        response = chat(servers[index % 2], key, "slow-model")
        code = response.json()["error"]["code"] if response.status_code != 200 else None
        return response.status_code, code, time.monotonic() - started

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(8)))
    assert sorted(status for status, _, _ in results) == [200] * 3 + [429] * 5, results
    assert all(code == "rate_limit_exceeded" and took < 3.0 for status, code, took in results if status == 429)
    assert len(fake.requests_for("slow")) == 3  # the refused ones never reached the upstream
    fake.set_option("slow", delay=0.0)
    assert chat(pair.a, key, "slow-model").status_code == 200  # every slot came back


def open_stream(server: ServerProcess, key: str) -> tuple[requests.Response, Iterator[bytes]]:
    """A running stream (its first event read) and its line iterator, kept so the connection stays."""
    body = {"model": "stream-model", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    response = requests.post(
        server.url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}, stream=True
    )
    assert response.status_code == 200, response.text
    lines = response.iter_lines()
    assert next(lines).startswith(b"data: ")
    return response, lines


def test_a_stream_holds_its_slot_on_every_instance_until_it_ends_or_the_client_leaves(pair, fake):
    fake.set_option("streamy", content=" ".join(["word"] * 20), chunks=20, chunk_delay=0.3)  # ~6 s
    key = pair.create_key("streams", "--max-concurrent", "2")
    first, _ = open_stream(pair.a, key)
    second, second_lines = open_stream(pair.b, key)
    try:
        for server in (pair.a, pair.b):
            assert refused(chat(server, key, "quick-model"))
        first.close()  # the client leaves: A frees its slot, B sees it
        assert wait_until(lambda: chat(pair.b, key, "quick-model").status_code == 200, timeout=15, interval=0.3)
        rest = [line for line in second_lines if line]  # the second stream runs to its end
        assert rest[-1] == b"data: [DONE]", rest[-3:]
    finally:
        first.close()
        second.close()
    # Both slots are free again: two streams go (their line iterators are kept: one dropped is
    # garbage-collected, which closes its connection and so ends its stream).
    third, third_lines = open_stream(pair.a, key)
    fourth, fourth_lines = open_stream(pair.b, key)
    try:
        assert refused(chat(pair.a, key, "quick-model"))
    finally:
        third.close()
        fourth.close()


def test_budget_crossed_on_one_instance_refuses_on_the_other(pair, fake):
    fake.set_option("priced", content="one two three four")  # 5 tokens at $0.1 each: $0.50
    key = pair.create_key("wallet", "--budget", "0.9", "--budget-period", "day")
    assert chat(pair.a, key, "priced-model").status_code == 200  # spent 0.5
    assert chat(pair.b, key, "priced-model").status_code == 200  # 0.5 < 0.9: goes, and crosses it
    for server in (pair.a, pair.b):
        answer = chat(server, key, "priced-model")
        assert refused(answer, "insufficient_quota"), answer.text
    assert len(fake.requests_for("priced")) == 2


def test_a_bad_body_is_admitted_first_and_gives_its_slot_back(pair):
    """The admission travels to Redis while the body is parsed: it is still decided first (a refusal
    wins over the body's 400) and an admitted bad request gives its slot back."""
    key = pair.create_key("bad-body", "--max-concurrent", "1", "--rpm", "2")
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    bad = pair.a.post("/v1/chat/completions", data=b'{"model": ', headers=headers)
    assert bad.status_code == 400, bad.text
    assert bad.headers["x-ratelimit-remaining-requests"] == "1"
    assert chat(pair.b, key, "quick-model").status_code == 200  # the slot came back
    over = pair.a.post("/v1/chat/completions", data=b'{"model": ', headers=headers)
    assert refused(over), over.text
