"""OpenAI-compatible upstreams as they really behave (issue 17 items 12, 16, 19), through the openai SDK:
several choices in one stream, text in the finishing chunk, upstreams that refuse `stream_options`,
answers without `message.refusal`."""

from collections import defaultdict

from catalogue import services
from catalogue.models import Provider
from tests.openapi import assert_valid

USER = [{"role": "user", "content": "one two three"}]


def _stream_by_choice(gateway, **fields):
    """(text, finish reasons) per choice index, and the chunks, of a streamed chat through the SDK."""
    chunks = list(gateway.openai().chat.completions.create(model="fake-model", messages=USER, stream=True, **fields))
    texts: dict[int, str] = defaultdict(str)
    finishes: dict[int, list[str]] = defaultdict(list)
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                finishes[choice.index].append(choice.finish_reason)
    return dict(texts), dict(finishes), chunks


def test_each_choice_of_a_stream_keeps_its_finish_reason(gateway):
    gateway.add_provider("multi")
    texts, finishes, chunks = _stream_by_choice(gateway, n=3)
    assert texts == dict.fromkeys(range(3), "Hello from multi: one two three")
    assert finishes == {0: ["stop"], 1: ["stop"], 2: ["stop"]}
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    for chunk in chunks:
        assert_valid("CreateChatCompletionStreamResponse", chunk.model_dump(exclude_unset=True))


def test_text_in_the_finishing_chunk_is_not_lost(gateway):
    gateway.add_provider("terse")
    gateway.fake.set_option("terse", finish_with_text=True, chunks=3)
    texts, finishes, _ = _stream_by_choice(gateway, n=2)
    assert texts == dict.fromkeys(range(2), "Hello from terse: one two three")
    assert finishes == {0: ["stop"], 1: ["stop"]}


def test_a_provider_set_not_to_send_stream_options_never_gets_them(gateway):
    gateway.add_provider("mistralish", sends_stream_options=False)
    gateway.fake.set_option("mistralish", stream_options=False)
    texts, finishes, chunks = _stream_by_choice(gateway, stream_options={"include_usage": True})
    assert texts == {0: "Hello from mistralish: one two three"} and finishes == {0: ["stop"]}
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0  # estimated by the gateway
    sent = gateway.fake.requests_for("mistralish")
    assert len(sent) == 1 and "stream_options" not in sent[0].json


def test_a_refusal_naming_stream_options_is_retried_once_without_them(gateway):
    gateway.add_provider("fussy")
    gateway.fake.set_option("fussy", stream_options=False)
    texts, finishes, _ = _stream_by_choice(gateway)
    assert texts == {0: "Hello from fussy: one two three"} and finishes == {0: ["stop"]}
    sent = [request.json for request in gateway.fake.requests_for("fussy")]
    assert [("stream_options" in body) for body in sent] == [True, False]


def test_other_providers_still_get_stream_options(gateway):
    gateway.add_provider("plain")
    _stream_by_choice(gateway)
    assert gateway.fake.requests_for("plain")[0].json["stream_options"] == {"include_usage": True}


def test_the_setting_is_imported_exported_and_in_the_admin(gateway, admin_session):
    gateway.add_provider("mistralish", sends_stream_options=False)
    exported = {entry["name"]: entry for entry in services.catalogue_export()["providers"]}
    assert exported["mistralish"]["sends_stream_options"] is False
    provider = Provider.objects.get(name="mistralish")
    page = admin_session.get(f"{gateway.url}/admin/catalogue/provider/{provider.pk}/change/", timeout=10)
    assert page.status_code == 200 and 'name="sends_stream_options"' in page.text
    seeded = {entry["name"]: entry for entry in services.catalogue_file_read(services.DEFAULT_CATALOGUE)["providers"]}
    assert seeded["Mistral"]["sends_stream_options"] is False


def test_an_answer_without_refusal_gets_refusal_null(gateway):
    gateway.add_provider("old-server")
    gateway.fake.set_option("old-server", refusal=False)
    response = gateway.post("/v1/chat/completions", {"model": "fake-model", "messages": USER, "n": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert_valid("CreateChatCompletionResponse", body)
    assert [choice["message"]["refusal"] for choice in body["choices"]] == [None, None]
