"""`g4f api` and `manage.py api` as operators run them: real server processes, flags and environment."""

import json
import re
import time

import pytest

from tests.cli.servers import G4F, MANAGE, ServerProcess, fake_catalogue, manage

pytestmark = pytest.mark.slow

KEY = "cli-master-key"
PROVIDERS = {"Alpha": ["fake-model", "other-model"], "Beta": ["fake-model"]}


@pytest.fixture(scope="module")
def flagged(start_server):
    """`g4f api` with most flags; G4F_MODEL in the environment is overridden by --model."""
    return start_server(
        [G4F, "api", "--g4f-api-key", KEY, "--ignored-providers", "Beta", "--model", "other-model", "--gui"],
        providers=PROVIDERS,
        env={"G4F_MODEL": "fake-model"},
    )


def auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_api_key_flag_requires_the_key(flagged):
    missing = flagged.get("/v1/models")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "invalid_api_key"
    assert flagged.get("/v1/models", headers=auth("wrong")).status_code == 401
    assert flagged.get("/v1/models", headers=auth()).status_code == 200
    assert flagged.get("/v1/models", headers={"g4f-api-key": KEY}).status_code == 200


def test_ignored_providers_flag_hides_them(flagged):
    names = [p["provider"] for p in flagged.get("/v1/providers", headers=auth()).json()["data"]]
    assert "Alpha" in names
    assert "Beta" not in names


def test_model_flag_is_the_default_and_beats_the_environment(flagged, fake):
    reply = flagged.post("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}, headers=auth())
    assert reply.status_code == 200, reply.text
    assert reply.json()["model"] == "other-model"
    assert reply.json()["provider"] == "Alpha"
    assert [r.json["model"] for r in fake.requests_for("Alpha")] == ["other-model"]


def test_gui_flag_serves_the_chat_page_and_its_modules(flagged):
    page = flagged.get("/chat/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'data-api-base="/v1"' in page.text
    scripts = re.findall(r'src="([^"]+\.js)"', page.text)
    assert scripts, page.text
    for path in scripts + ["/static/gui/api.js", "/static/gui/store.js"]:
        asset = flagged.get(path)
        assert asset.status_code == 200, path
        assert asset.headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript")
    css = flagged.get("/static/gui/chat.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_without_debug_no_request_is_logged(flagged):
    assert flagged.get("/v1/models", headers=auth()).status_code == 200
    assert "Serving on http://127.0.0.1:" in flagged.log()
    assert "g4f.access" not in flagged.log()


def test_each_answer_leaves_in_one_write(flagged):
    """`g4f api` serves with g4fsite.http_protocol: status line, headers and body in one write
    (uvicorn's own protocol writes the head and the body apart: 2 per answer)."""
    assert flagged.writes_per_answer(**auth()) < 1.25


def test_manage_py_api_takes_the_environment_and_flags_win(start_server, fake):
    server = start_server(
        [*MANAGE, "api", "--ignored-providers", "Alpha", "--timeout", "1"],
        providers=PROVIDERS,
        env={"G4F_API_KEY": "env-key", "G4F_IGNORED_PROVIDERS": "Beta", "G4F_PROVIDER": "Beta"},
    )
    assert server.get("/v1/models").status_code == 401  # G4F_API_KEY from the environment applies
    names = [p["provider"] for p in server.get("/v1/providers", headers=auth("env-key")).json()["data"]]
    assert names == ["Beta"]  # --ignored-providers Alpha replaced G4F_IGNORED_PROVIDERS=Beta
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
    reply = server.post("/v1/chat/completions", body, headers=auth("env-key"))
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-provider"] == "Beta"
    # No --gui: the page answers the usual 404 error body.
    page = server.get("/chat/")
    assert page.status_code == 404
    assert set(page.json()["error"]) == {"message", "type", "param", "code"}
    assert "--gui" in page.json()["error"]["message"]
    # --timeout 1 replaces the provider's own (60 s) timeout.
    fake.set_option("Beta", delay=5)
    started = time.monotonic()
    slow = server.post("/v1/chat/completions", body, headers=auth("env-key"))
    assert slow.status_code == 504, slow.text
    assert slow.json()["error"]["code"] == "provider_timeout"
    assert time.monotonic() - started < 4


def test_a_fresh_data_dir_is_migrated_and_seeded_once(tmp_path):
    data_dir = tmp_path / "fresh"
    data_dir.mkdir()
    server = ServerProcess([G4F, "api"], data_dir).start()
    try:
        log = server.log()
        assert "Applying database migrations" in log
        assert "seeded the default catalogue" in log
        names = [p["provider"] for p in server.get("/v1/providers").json()["data"]]
        assert "PollinationsAI" in names
    finally:
        server.stop()
    again = ServerProcess([G4F, "api"], data_dir).start()
    try:
        assert again.get("/v1/providers").status_code == 200
        assert "Applying database migrations" not in again.log()
        assert "seeded" not in again.log()
    finally:
        again.stop()


def _access_lines(log: str) -> list[tuple[str, str]]:
    """(path, pid) of each request line."""
    return re.findall(r"g4f\.access GET (\S+) 200 .* pid=(\d+)", log)


def test_workers_serve_and_all_see_a_catalogue_change(start_server, tmp_path, fake):
    server = start_server([G4F, "api", "--workers", "2", "--debug"], providers={"Alpha": ["fake-model"]})
    pids: set[str] = set()
    for _ in range(200):  # new connection each time; the kernel spreads them over the workers
        assert server.get("/v1/models").status_code == 200
        pids = {pid for _, pid in _access_lines(server.log())}
        if len(pids) >= 2:
            break
    assert len(pids) == 2, f"requests reached only workers {pids}"

    change = tmp_path / "change.json"
    change.write_text(json.dumps(fake_catalogue(fake, {"Alpha": ["fake-model", "late-model"]})))
    manage(server.data_dir, "catalogue", "import", str(change))
    marker = len(server.log())
    seen_by: set[str] = set()
    for _ in range(200):
        models = [m["id"] for m in server.get("/v1/models").json()["data"]]
        assert "late-model" in models
        time.sleep(0.01)
        seen_by = {pid for _, pid in _access_lines(server.log()[marker:])}
        if seen_by == pids:
            break
    assert seen_by == pids, f"only workers {seen_by} of {pids} answered after the change"


def test_g4f_without_a_command_prints_help():
    import subprocess

    result = subprocess.run([G4F], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "api" in result.stdout


def test_defaults_bind_to_localhost_1337():
    from g4fsite.cli import build_parser

    args = build_parser().parse_args(["api"])
    assert (args.host, args.port, args.workers) == ("127.0.0.1", 1337, None)
    assert args.gui is None and args.debug is None  # unset flags leave the environment's values
