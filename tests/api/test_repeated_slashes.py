"""Issue 17 item 10: repeated slashes in a path count as one. A client configured with a base URL
ending in `/` asks for `/v1//models` and `/v1//chat/completions` (Open WebUI builds `base + "/models"`).
The openai SDK itself drops one trailing slash of its base URL, so it doubles a slash only when given
two (`.../v1//`) or one inside (`...//v1/`): both are tried here, over real HTTP."""

import openai
import pytest
import requests


@pytest.mark.parametrize("base", ["/v1//", "//v1/", "/v1///"])
def test_the_openai_sdk_with_doubled_slashes_in_its_base_url(gateway, base):
    gateway.add_provider("alpha")
    client = openai.OpenAI(base_url=gateway.url + base, api_key="unused", max_retries=0, timeout=20)
    assert "//" in str(client._prepare_url("models")).partition("://")[2]  # the SDK really sends //
    assert "fake-model" in [m.id for m in client.models.list()]
    assert client.models.retrieve("fake-model").id == "fake-model"
    reply = client.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "Hello from alpha: hi"
    stream = client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)


def test_a_base_url_ending_in_a_slash_joined_with_a_slash(gateway):
    gateway.add_provider("alpha")
    base = gateway.url + "/v1/"
    models = requests.get(base + "/models", timeout=20)
    assert models.status_code == 200 and "fake-model" in [m["id"] for m in models.json()["data"]]
    chat = requests.post(
        base + "/chat/completions",
        json={"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]},
        timeout=20,
    )
    assert chat.status_code == 200, chat.text
    assert chat.json()["choices"][0]["message"]["content"] == "Hello from alpha: hi"
