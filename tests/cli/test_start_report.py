"""`g4f api` says on start which providers can answer, and how to add one when none can."""

import pytest

from tests.cli.servers import G4F

pytestmark = pytest.mark.slow


def test_start_lists_usable_providers(start_server):
    server = start_server(
        [G4F, "api"],
        providers={"Alpha": ["fake-model"], "Locked": ["other-model"]},
        fields={"Locked": {"needs_auth": True, "api_key_env": "LOCKED_API_KEY"}},
    )
    log = server.log()
    assert "Usable chat providers: Alpha." in log
    assert "needs credential: Locked" in log
    assert "To add" not in log  # Alpha (the fake upstream) runs on this machine: no hint needed
    server.stop()


def test_start_without_a_usable_provider_says_how_to_add_one(start_server):
    server = start_server(
        [G4F, "api"],
        providers={"Locked": ["other-model"]},
        fields={"Locked": {"needs_auth": True, "api_key_env": "LOCKED_API_KEY"}},
    )
    log = server.log()
    assert "No provider is usable for chat." in log
    assert "To add one: set a provider's key (e.g. LOCKED_API_KEY)" in log
    assert "Ollama (http://localhost:11434/v1)" in log and "catalogue refresh Ollama" in log
    assert server.get("/v1/models").json()["data"] == []
    server.stop()
