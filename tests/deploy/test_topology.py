"""Issue 16's "Done means": two `g4f api --workers 2` instances on one PostgreSQL and one Redis behind
nginx (`deploy/nginx.conf`), all on loopback, share keys, catalogue changes, conversations and media,
and survive a killed instance, a stopped instance, a Redis outage and a PostgreSQL restart.

One topology for the module (tests/deploy/topology.py); each test leaves it whole again."""

import json
import shutil
import threading
import time

import pytest
import requests

from tests.deploy.nginx import NGINX
from tests.deploy.topology import Load, topology
from tests.helpers import admin_login, sse_events, wait_until
from tests.services import POSTGRES_BIN, REDIS

pytestmark = [
    pytest.mark.topology,
    pytest.mark.slow,
    # The first test also pays for starting the topology (migrating PostgreSQL takes most of it).
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        not (NGINX and REDIS and POSTGRES_BIN and shutil.which("runuser")),
        reason="needs nginx, redis-server and postgresql (scripts/test installs them)",
    ),
]
PROPAGATION_SECONDS = 2.0
FAIL_TIMEOUT = 5.0  # deploy/nginx.conf: a replica that failed is left alone this long
CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, fake_upstream):
    directory = tmp_path_factory.mktemp("topology")
    catalogue = directory / "catalogue.json"
    providers = [
        {
            "name": name,
            "base_url": fake_upstream.provider_url(name),
            "priority": priority,
            "models": [
                {"name": "fake-model", "upstream": "fake-model", "capabilities": ["chat"]},
                {"name": "fake-image", "upstream": "fake-image", "capabilities": ["image"]},
            ],
        }
        for name, priority in (("alpha", 10), ("beta", 1))
    ]
    catalogue.write_text(json.dumps({"providers": providers}))
    with topology(directory, catalogue) as built:
        yield built


def _status(url: str, key: str) -> int:
    return requests.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=10).status_code


def _chat(url: str, headers: dict, body: dict | None = None) -> requests.Response:
    return requests.post(f"{url}/v1/chat/completions", json=body or CHAT, headers=headers, timeout=30)


@pytest.mark.parametrize("redis_on_command", [True, False], ids=["with-redis-url", "without-redis-url"])
def test_a_key_created_or_revoked_on_one_instance_holds_on_the_other(fleet, fake, redis_on_command):
    first, second = fleet.gateways
    name = f"topology-{redis_on_command}"
    key = first.manage("apikey", "create", name, redis=redis_on_command).strip().splitlines()[-1]
    created_at = time.monotonic()
    assert wait_until(lambda: _status(second.url, key) == 200, timeout=PROPAGATION_SECONDS, interval=0.1)
    assert time.monotonic() - created_at <= PROPAGATION_SECONDS + 0.5
    assert _status(first.url, key) == 200
    first.manage("apikey", "revoke", name, redis=redis_on_command)
    revoked_at = time.monotonic()
    for gateway in (second, first):
        assert wait_until(lambda g=gateway: _status(g.url, key) == 401, timeout=PROPAGATION_SECONDS, interval=0.1)
    assert time.monotonic() - revoked_at <= PROPAGATION_SECONDS + 0.5


def _admin_session(url: str) -> requests.Session:
    return admin_login(url, "root", "pw-for-topology")


def _admin_action(session: requests.Session, url: str, action: str, provider_id: str) -> None:
    changelist = f"{url}/admin/catalogue/provider/"
    assert session.get(changelist, timeout=10).status_code == 200
    response = session.post(
        changelist,
        data={
            "action": action,
            "_selected_action": provider_id,
            "index": "0",
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"referer": changelist},
        timeout=10,
    )
    assert response.status_code == 200, response.text[:500]


def test_a_provider_ignored_in_one_admin_is_skipped_by_the_other(fleet, fake):
    first, second = fleet.gateways
    first.env["DJANGO_SUPERUSER_PASSWORD"] = "pw-for-topology"
    first.manage("createsuperuser", "--noinput", "--username", "root", "--email", "root@example.com")
    code = "from catalogue.models import Provider; print(Provider.objects.get(name='alpha').pk)"
    alpha = first.manage("shell", "-c", code).strip().splitlines()[-1]
    assert _chat(second.url, fleet.headers).json()["provider"] == "alpha"
    session = _admin_session(first.url)
    try:
        _admin_action(session, first.url, "mark_ignored", alpha)
        assert wait_until(
            lambda: _chat(second.url, fleet.headers).json()["provider"] == "beta",
            timeout=PROPAGATION_SECONDS,
            interval=0.1,
        )
    finally:
        _admin_action(session, first.url, "mark_working", alpha)
    assert wait_until(lambda: _chat(second.url, fleet.headers).json()["provider"] == "alpha", timeout=5)


def test_a_conversation_continues_across_instances(fleet, fake):
    first, second = fleet.gateways
    for gateway, text in ((first, "first"), (second, "second")):
        body = {
            "model": "fake-model",
            "conversation_id": "topology-talk",
            "messages": [{"role": "user", "content": text}],
        }
        answer = _chat(gateway.url, fleet.headers, body)
        assert answer.status_code == 200, answer.text
    assert [m["content"] for m in fake.requests_for("alpha")[-1].json["messages"]] == [
        "first",
        "Hello from alpha: first",
        "second",
    ]
    stored = requests.get(f"{first.url}/v1/conversations/topology-talk", headers=fleet.headers, timeout=10).json()
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant", "user", "assistant"]


def test_an_image_made_through_one_instance_is_served_by_the_other(fleet, fake):
    first, second = fleet.gateways
    body = {"model": "fake-image", "prompt": "a red square", "response_format": "url"}
    made = requests.post(f"{first.url}/v1/images/generations", json=body, headers=fleet.headers, timeout=30)
    assert made.status_code == 200, made.text
    path = "/media/" + made.json()["data"][0]["url"].split("/media/", 1)[1]
    served = requests.get(f"{second.url}{path}", timeout=10)
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"


def test_an_instance_killed_under_load_fails_only_its_requests_in_flight(fleet, fake):
    victim, survivor = fleet.gateways
    fake.set_option("alpha", delay=0.4)
    marks = {}
    try:
        with Load(f"{fleet.nginx.url}/v1/chat/completions", CHAT, fleet.headers, clients=6) as load:
            load.during(2.0)
            marks["kill"] = time.time()
            victim.kill()
            marks["dead"] = time.time()
            # Past nginx's fail_timeout (5 s), so that it tries the dead replica again and must move on.
            load.during(FAIL_TIMEOUT + 1.5)
    finally:
        victim.start()
    outcomes, log = load.outcomes, fleet.nginx.log()
    after = [o for o in outcomes if o.started > marks["dead"]]
    assert after and all(o.status == 200 for o in after), [o for o in after if o.status != 200]
    failures = [o for o in outcomes if o.status != 200]
    assert all(o.ended >= marks["kill"] for o in failures), failures
    in_flight = [
        e for e in log if e.replicas[:1] == [victim.port] and e.started < marks["dead"] and e.ended >= marks["kill"]
    ]
    assert len(failures) <= len(in_flight), (failures, in_flight)
    rest = [e for e in log if marks["dead"] + 0.05 < e.started < marks["dead"] + FAIL_TIMEOUT + 1.5]
    assert rest and all(e.replicas[-1:] == [survivor.port] and e.status == 200 for e in rest)
    assert any(e.replicas == [victim.port, survivor.port] for e in rest)  # refused, then sent on


def test_sigterm_finishes_20_open_streams_and_new_requests_go_to_the_other_instance(fleet, fake):
    survivor, stopping = fleet.gateways
    fake.set_option("alpha", chunks=10, chunk_delay=0.3)
    opened, results = threading.Semaphore(0), []

    def stream() -> None:
        body = {**CHAT, "stream": True}
        try:
            with requests.post(
                f"{stopping.url}/v1/chat/completions", json=body, headers=fleet.headers, stream=True, timeout=30
            ) as response:
                opened.release()
                events = sse_events(response)
                text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events[:-1] if e["choices"])
                results.append((response.status_code, events[-1:] == ["[DONE]"], text))
        except requests.RequestException as exc:
            opened.release()
            results.append((0, False, repr(exc)))

    threads = [threading.Thread(target=stream, daemon=True) for _ in range(20)]
    for thread in threads:
        thread.start()
    try:
        assert all(opened.acquire(timeout=30) for _ in threads)
        stopping.terminate()
        answers = []
        for _ in range(8):
            started = time.monotonic()
            try:
                status = _chat(fleet.nginx.url, fleet.headers).status_code
            except requests.RequestException:
                status = 0
            answers.append((status, time.monotonic() - started))
        for thread in threads:
            thread.join(40)
        stopping.process.wait(40)
    finally:
        stopping.stop()
        stopping.start()
    assert results == [(200, True, "Hello from alpha: hi")] * 20
    assert all(status == 200 and seconds < 5 for status, seconds in answers), answers
    assert survivor.process.poll() is None


def test_redis_stopped_and_started_under_load_gives_no_500(fleet, fake):
    key = (
        fleet.gateways[0]
        .manage("apikey", "create", "topology-redis", "--rpm", "100000", "--max-concurrent", "50")
        .strip()
        .splitlines()[-1]
    )
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with Load(f"{fleet.nginx.url}/v1/chat/completions", CHAT, headers, clients=4) as load:
            load.during(1.0, fleet.redis.stop)
            load.during(2.0, fleet.redis.start)
            load.during(2.0)
    finally:
        if fleet.redis.process is None:
            fleet.redis.start()
    statuses = [o.status for o in load.outcomes]
    assert statuses and all(status == 200 for status in statuses), sorted(set(statuses))


def test_postgresql_restarted_under_load_loses_no_usage_row(fleet, fake):
    first = fleet.gateways[0]
    key = first.manage("apikey", "create", "topology-usage").strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with Load(f"{fleet.nginx.url}/v1/chat/completions", CHAT, headers, clients=4) as load:
            load.during(1.0, fleet.postgres.stop)
            load.during(1.5, fleet.postgres.start)
            load.during(2.0)
    finally:
        if fleet.postgres.process is None:
            fleet.postgres.start()
    answered = sum(o.status == 200 for o in load.outcomes)
    code = (
        "from catalogue.models import UsageRecord; "
        "print(UsageRecord.objects.filter(api_key__name='topology-usage', success=True).count())"
    )
    rows = lambda: int(first.manage("shell", "-c", code).strip().splitlines()[-1])  # noqa: E731
    assert answered > 0
    assert wait_until(lambda: rows() == answered, timeout=20, interval=1.0), (rows(), answered)
