"""Stored responses: `GET` / `DELETE /v1/responses/{id}` and `GET /v1/responses/{id}/input_items`
belong to the key that created the response (another key gets 404, as for a missing one, and so does
a `previous_response_id` it does not own); `store: false` stores nothing; bad requests are 400s."""

import openai
import pytest
import requests

from catalogue import services
from catalogue.models import StoredResponse, UsageRecord
from completions.usage import usage_recorder
from tests.api.responses_helpers import LOOKUP, MODELS, add_provider, create
from tests.openapi import assert_valid


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_stored_response_belongs_to_the_key_that_created_it(gateway):
    name = add_provider(gateway, "anthropic")
    _, key_a = services.api_key_create(name="a")
    _, key_b = services.api_key_create(name="b")
    client_a, client_b = gateway.openai(api_key=key_a), gateway.openai(api_key=key_b)
    first = client_a.responses.create(model=MODELS["anthropic"], input="secret of a", instructions="Be kind.")

    mine = gateway.get(f"/v1/responses/{first.id}", headers=_auth(key_a))
    assert mine.status_code == 200
    assert_valid("Response", mine.json())
    assert mine.json()["output"] == first.model_dump(mode="json", exclude_unset=True)["output"]
    assert client_a.responses.retrieve(first.id).output_text == f"Hello from {name}: secret of a"

    for path in (f"/v1/responses/{first.id}", f"/v1/responses/{first.id}/input_items"):
        theirs = gateway.get(path, headers=_auth(key_b))
        assert theirs.status_code == 404 and "secret" not in theirs.text
        assert theirs.json()["error"]["param"] == "response_id"
    assert (
        requests.delete(f"{gateway.url}/v1/responses/{first.id}", headers=_auth(key_b), timeout=10).status_code == 404
    )
    calls = len(gateway.fake.requests_for(name))
    with pytest.raises(openai.NotFoundError) as raised:
        client_b.responses.create(model=MODELS["anthropic"], input="go on", previous_response_id=first.id)
    assert raised.value.body["param"] == "previous_response_id"
    assert len(gateway.fake.requests_for(name)) == calls  # nothing went upstream for b

    items = gateway.get(f"/v1/responses/{first.id}/input_items", headers=_auth(key_a)).json()
    assert_valid("ResponseItemList", items)
    assert [item["content"][0]["text"] for item in items["data"]] == ["secret of a"]
    assert items["first_id"] == items["last_id"] == items["data"][0]["id"] and items["has_more"] is False

    client_a.responses.delete(first.id)
    assert gateway.get(f"/v1/responses/{first.id}", headers=_auth(key_a)).status_code == 404
    assert gateway.get("/v1/responses/anything").status_code == 401  # auth is on


def test_input_items_page_in_either_order(gateway):
    add_provider(gateway, "openai")
    body = {
        "model": MODELS["openai"],
        "input": [
            {"role": "user", "content": "first"},
            {"type": "message", "role": "assistant", "content": "an answer"},
            {"role": "user", "content": [{"type": "input_text", "text": "second"}]},
        ],
    }
    response_id = create(gateway, body).json()["id"]
    newest = gateway.get(f"/v1/responses/{response_id}/input_items?limit=2").json()
    assert_valid("ResponseItemList", newest)
    assert [item["role"] for item in newest["data"]] == ["user", "assistant"] and newest["has_more"] is True
    rest = gateway.get(f"/v1/responses/{response_id}/input_items?limit=2&after={newest['last_id']}").json()
    assert [item["content"][0]["text"] for item in rest["data"]] == ["first"] and rest["has_more"] is False
    oldest = gateway.get(f"/v1/responses/{response_id}/input_items?order=asc").json()
    assert [item["role"] for item in oldest["data"]] == ["user", "assistant", "user"]
    bad = gateway.get(f"/v1/responses/{response_id}/input_items?limit=0")
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "limit"


def test_store_false_stores_nothing_and_a_stream_is_stored_when_it_completes(gateway):
    add_provider(gateway, "gemini")
    unstored = create(gateway, {"model": MODELS["gemini"], "input": "hi", "store": False}).json()
    assert unstored["store"] is False
    assert gateway.get(f"/v1/responses/{unstored['id']}").status_code == 404
    assert not StoredResponse.objects.filter(id=unstored["id"]).exists()

    client = gateway.openai()
    with client.responses.stream(model=MODELS["gemini"], input="remember me", tools=[LOOKUP]) as streamed:
        final = streamed.get_final_response()
    stored = gateway.get(f"/v1/responses/{final.id}").json()
    assert_valid("Response", stored)
    assert stored["status"] == "completed" and stored["output"][0]["type"] == "function_call"


def test_usage_is_recorded_for_the_responses_endpoint(gateway):
    name = add_provider(gateway, "openai", native=True)
    create(gateway, {"model": MODELS["openai"], "input": "one two three"})
    usage_recorder.flush()
    row = UsageRecord.objects.get(endpoint="responses")
    assert row.provider == name and row.success and row.prompt_tokens == 3 and row.completion_tokens == 6


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "fake-model"}, "input"),
        ({"model": "fake-model", "input": 5}, "input"),
        ({"model": "fake-model", "input": [{"type": "message", "role": "robot", "content": "x"}]}, "input"),
        ({"model": "fake-model", "input": "x", "temperature": 3}, "temperature"),
        ({"model": "fake-model", "input": "x", "max_output_tokens": 0}, "max_output_tokens"),
        ({"model": "fake-model", "input": "x", "tools": [{"type": "function"}]}, "tools"),
        ({"model": "fake-model", "input": "x", "text": {"format": {"type": "xml"}}}, "text"),
        ({"model": "fake-model", "input": "x", "tool_choice": 7}, "tool_choice"),
    ],
)
def test_bad_requests_are_400s_naming_the_field(gateway, body, param):
    add_provider(gateway, "openai")
    response = create(gateway, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert gateway.fake.requests_for("openai-fake") == []


def test_invalid_json_and_unknown_previous_response_are_client_errors(gateway):
    add_provider(gateway, "openai")
    broken = gateway.post("/v1/responses", data=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_json"
    missing = create(gateway, {"model": "fake-model", "input": "x", "previous_response_id": "resp_nope"})
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "previous_response_id"
