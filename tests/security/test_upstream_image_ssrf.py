"""Issue 13 item 5: an image URL a provider answers with cannot aim the gateway at its own network.

The provider is the fake upstream on 127.0.0.1:PORT (its own origin: fetched directly). "internal" is
a second server on another loopback port, standing for anything on the gateway's network."""

from urllib.parse import quote

import pytest
import requests

from tests.fake_upstream import FakeUpstream
from tests.fake_upstream.assets import TINY_PNG

IMAGE = {"model": "fake-image", "prompt": "a red square", "response_format": "url"}  # the provider answers a URL


@pytest.fixture
def internal():
    server = FakeUpstream(access_log=False).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pix(gateway):
    gateway.add_provider("pix", models=["fake-image"], capabilities=("image",))
    return gateway


def test_image_url_on_another_loopback_port_is_refused_without_a_request(pix, internal):
    pix.fake.set_option("pix", image_url=f"{internal.base_url}/files/image.png")
    response = pix.post("/v1/images/generations", IMAGE)
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["code"] == "provider_image_refused" and "not a public address" in error["message"]
    assert internal.requests == []


def test_redirect_from_the_provider_origin_elsewhere_is_checked_again(pix, internal):
    target = quote(f"{internal.base_url}/files/image.png", safe="")
    pix.fake.set_option("pix", image_url=f"{pix.fake.base_url}/files/redirect?to={target}")
    response = pix.post("/v1/images/generations", IMAGE)
    assert response.status_code == 502, response.text
    assert response.json()["error"]["code"] == "provider_image_refused"
    assert internal.requests == []
    assert any(r.path == "/files/redirect" for r in pix.fake.requests)


def test_images_on_the_provider_origin_still_work_redirects_included(pix):
    target = quote(f"{pix.fake.base_url}/files/image.png", safe="")
    pix.fake.set_option("pix", image_url=f"{pix.fake.base_url}/files/redirect?to={target}")
    response = pix.post("/v1/images/generations", IMAGE)
    assert response.status_code == 200, response.text
    assert requests.get(response.json()["data"][0]["url"], timeout=10).content == TINY_PNG
    assert [r.path for r in pix.fake.requests if r.provider is None] == ["/files/redirect", "/files/image.png"]
