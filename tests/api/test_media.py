"""GET /media/{filename}: only files the gateway stored, with caching headers; traversal is a 404;
`manage.py cleanmedia` removes old files."""

import http.client
import os
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from completions.media.store import media_store
from completions.models import MediaFile
from tests.fake_upstream.assets import TINY_PNG


def raw_get(gateway, path: str) -> tuple[int, dict[str, str], bytes]:
    """GET a path exactly as written (no client-side normalisation of `..` or `//`)."""
    connection = http.client.HTTPConnection("127.0.0.1", gateway.server.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.fixture
def stored(gateway):
    return media_store(data=TINY_PNG, content_type="image/png")


def test_stored_file_is_served_with_caching_headers(gateway, stored):
    response = gateway.get(f"/media/{stored.filename}")
    assert response.status_code == 200 and response.content == TINY_PNG
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"].startswith("public, max-age=")
    assert response.headers["etag"] == f'"{stored.etag}"'
    assert response.headers["last-modified"]
    again = gateway.get(f"/media/{stored.filename}", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and not again.content


def test_head_and_post(gateway, stored):
    head = requests.head(f"{gateway.url}/media/{stored.filename}", timeout=10)
    assert head.status_code == 200 and head.headers["content-type"] == "image/png"
    response = gateway.post(f"/media/{stored.filename}")
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    "path",
    [
        "/media/../settings.py",
        "/media/%2e%2e/x",
        "/media/..%2fx",
        "/media/..%2F..%2Fg4fsite%2Fsettings.py",
        "/media//etc/passwd",
        "/media/%2Fetc%2Fpasswd",
        "/media/..\\settings.py",
        "/media/",
        "/media/nope.png",
    ],
)
def test_traversal_and_unknown_names_are_404(gateway, stored, path):
    status, headers, body = raw_get(gateway, path)
    assert status == 404
    assert headers["content-type"].startswith("application/json")
    assert b'"error"' in body


def test_file_in_media_root_without_a_record_is_404(gateway, stored):
    root = Path(django_settings.MEDIA_ROOT)
    planted = root / ("A" * 32 + ".png")
    planted.write_bytes(TINY_PNG)
    try:
        status, _, _ = raw_get(gateway, f"/media/{planted.name}")
        assert status == 404
        assert gateway.get(f"/media/{stored.filename}").status_code == 200
    finally:
        planted.unlink()


def test_record_without_its_file_is_404(gateway, stored):
    (Path(django_settings.MEDIA_ROOT) / stored.filename).unlink()
    assert gateway.get(f"/media/{stored.filename}").status_code == 404


def test_cleanmedia_removes_old_files_and_rows(gateway):
    old = media_store(data=TINY_PNG, content_type="image/png")
    new = media_store(data=TINY_PNG, content_type="image/png")
    MediaFile.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))
    call_command("cleanmedia", "--older-than", "3600", stdout=open(os.devnull, "w"))
    root = Path(django_settings.MEDIA_ROOT)
    assert not (root / old.filename).exists() and not MediaFile.objects.filter(pk=old.pk).exists()
    assert (root / new.filename).exists() and MediaFile.objects.filter(pk=new.pk).exists()
    assert gateway.get(f"/media/{old.filename}").status_code == 404
    assert gateway.get(f"/media/{new.filename}").status_code == 200
