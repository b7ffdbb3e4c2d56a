"""Issue 16.6: media shared between instances through an S3-compatible bucket (moto's server on
127.0.0.1), and G4F_PUBLIC_BASE_URL. Two `g4f api` instances with their own data directories share
the SQLite database and the bucket: an image made through one is served by the other, byte for
byte; `manage.py cleanmedia` removes old objects; the bucket's credentials appear in no log and no
answer, even when the storage fails."""

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError

from tests.cli.servers import G4F, MANAGE, ROOT, ServerProcess, clean_env, manage
from tests.fake_upstream.assets import TINY_PNG
from tests.helpers import free_port
from tests.services import s3_server

BUCKET = "g4f-media"
PREFIX = "gateway/media"
ACCESS_KEY = "AKIAG4FTESTACCESS01"
SECRET_KEY = "s3-secret-never-shown-0123456789"
UNKNOWN = "/media/" + "Z" * 32 + ".png"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3-compatible server in a child process, with the bucket made; yields (endpoint, client)."""
    with s3_server(tmp_path_factory.mktemp("moto"), ACCESS_KEY, SECRET_KEY, BUCKET) as server:
        yield server


def s3_env(endpoint: str, bucket: str = BUCKET) -> dict[str, str]:
    return {
        "G4F_MEDIA_STORAGE": "s3",
        "G4F_S3_BUCKET": bucket,
        "G4F_S3_ENDPOINT_URL": endpoint,
        "G4F_S3_PREFIX": PREFIX,
        "G4F_S3_ACCESS_KEY_ID": ACCESS_KEY,
        "G4F_S3_SECRET_ACCESS_KEY": SECRET_KEY,
    }


class Fleet:
    """Two instances (A links its images at B through G4F_PUBLIC_BASE_URL) and what they share."""

    def __init__(self, root: Path, fake, endpoint: str) -> None:
        self.database = root / "shared.sqlite3"
        self.endpoint = endpoint
        self.operator = root / "operator"
        self.env = {**s3_env(endpoint), "G4F_DB_PATH": str(self.database)}
        catalogue = root / "catalogue.json"
        provider = {
            "name": "pix",
            "adapter": "openai",
            "base_url": fake.provider_url("pix"),
            "status": "working",
            "models": [{"name": "fake-image", "upstream": "fake-image", "capabilities": ["image"]}],
        }
        catalogue.write_text(json.dumps({"providers": [provider]}))
        manage(self.operator, "migrate", "--noinput", **self.env)
        manage(self.operator, "catalogue", "import", str(catalogue), **self.env)
        self.b = ServerProcess([G4F, "api"], self._data_dir(root / "machine-b"), env=self.env)
        env_a = {**self.env, "G4F_PUBLIC_BASE_URL": self.b.url + "/"}
        self.a = ServerProcess([G4F, "api"], self._data_dir(root / "machine-a"), env=env_a)
        self.servers = [self.a, self.b]

    @staticmethod
    def _data_dir(path: Path) -> Path:
        path.mkdir()
        return path

    def image_url(self, prompt: str = "a shared square") -> str:
        response = self.a.post("/v1/images/generations", {"model": "fake-image", "prompt": prompt}, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()["data"][0]["url"]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, fake_upstream, s3):
    fleet = Fleet(tmp_path_factory.mktemp("fleet"), fake_upstream, s3[0])
    try:
        for server in fleet.servers:
            server.start()
        yield fleet
    finally:
        for server in fleet.servers:
            server.stop()


def name_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def assert_media_not_found(response: requests.Response) -> None:
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == "media_not_found"


def test_an_image_made_through_one_instance_is_served_by_the_other(fleet, s3):
    url = fleet.image_url()
    # G4F_PUBLIC_BASE_URL of instance A is instance B: the link a client gets points there.
    assert url.startswith(f"{fleet.b.url}/media/") and url.endswith(".png")
    from_b = requests.get(url, timeout=20)
    assert from_b.status_code == 200 and from_b.content == TINY_PNG
    assert from_b.headers["content-type"] == "image/png"
    assert from_b.headers["content-length"] == str(len(TINY_PNG))
    from_a = fleet.a.get(f"/media/{name_of(url)}")
    assert from_a.content == TINY_PNG and from_a.headers["etag"] == from_b.headers["etag"]
    again = fleet.b.get(f"/media/{name_of(url)}", headers={"If-None-Match": from_b.headers["etag"]})
    assert again.status_code == 304
    head = requests.head(url, timeout=20)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(TINY_PNG))
    # The bytes live in the bucket, under the prefix, and in neither machine's media directory.
    _, client = s3
    stored = client.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{name_of(url)}")["Body"].read()
    assert stored == TINY_PNG
    for server in fleet.servers:
        assert not (server.data_dir / "media" / name_of(url)).exists()


def test_unknown_names_and_missing_objects_are_the_usual_404(fleet, s3):
    assert_media_not_found(fleet.b.get(UNKNOWN))
    assert_media_not_found(fleet.b.get("/media/..%2F..%2Fg4fsite%2Fsettings.py"))
    url = fleet.image_url("soon gone")
    _, client = s3
    client.delete_object(Bucket=BUCKET, Key=f"{PREFIX}/{name_of(url)}")
    assert_media_not_found(requests.get(url, timeout=20))
    assert requests.head(url, timeout=20).status_code == 404


def test_cleanmedia_removes_old_objects_from_the_bucket(fleet, s3):
    old, new = name_of(fleet.image_url("old")), name_of(fleet.image_url("new"))
    with sqlite3.connect(fleet.database) as db:
        db.execute("UPDATE completions_mediafile SET created_at = '2000-01-01 00:00:00' WHERE filename = ?", [old])
    out = manage(fleet.operator, "cleanmedia", "--older-than", "3600", **fleet.env)
    assert "Removed" in out
    _, client = s3
    with pytest.raises(ClientError):
        client.head_object(Bucket=BUCKET, Key=f"{PREFIX}/{old}")
    assert client.head_object(Bucket=BUCKET, Key=f"{PREFIX}/{new}")["ContentLength"] == len(TINY_PNG)
    assert_media_not_found(fleet.b.get(f"/media/{old}"))
    assert fleet.b.get(f"/media/{new}").content == TINY_PNG


def test_a_failing_storage_is_a_503_without_credentials(fleet, s3):
    """An instance pointed at a bucket that does not exist: storing and serving answer 503
    media_storage_unavailable; the log says why without the credentials."""
    served = name_of(fleet.image_url("stored by A"))
    broken = ServerProcess(
        [G4F, "api"],
        Fleet._data_dir(fleet.database.parent / "machine-c"),
        env={**fleet.env, "G4F_S3_BUCKET": "no-such-bucket"},
    )
    try:
        broken.start()
        response = broken.post("/v1/images/generations", {"model": "fake-image", "prompt": "x"}, timeout=60)
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "media_storage_unavailable"
        fetched = broken.get(f"/media/{served}")
        assert fetched.status_code == 503 and fetched.json()["error"]["code"] == "media_storage_unavailable"
        for body in (response.text, fetched.text):
            assert SECRET_KEY not in body and ACCESS_KEY not in body
        done = subprocess.run(
            [*MANAGE, "cleanmedia", "--older-than", "0"],
            cwd=ROOT,
            env=clean_env(fleet.operator, **{**fleet.env, "G4F_S3_BUCKET": "no-such-bucket"}),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode != 0 and "media storage could not be reached" in done.stderr
        assert SECRET_KEY not in done.stderr + done.stdout and ACCESS_KEY not in done.stderr + done.stdout
    finally:
        broken.stop()
    log = broken.log()
    assert "Media storage failed" in log and "NoSuchBucket" in log
    assert SECRET_KEY not in log and ACCESS_KEY not in log
    # Nothing was removed by the failed clean-up: A's image is still served.
    assert fleet.b.get(f"/media/{served}").content == TINY_PNG


def test_no_log_line_names_the_bucket_credentials(fleet):
    for server in fleet.servers:
        log = server.log()
        assert "Serving on" in log
        assert SECRET_KEY not in log and ACCESS_KEY not in log


@pytest.mark.parametrize(
    "env, message",
    [
        ({"G4F_PUBLIC_BASE_URL": "ftp://gw.example.com"}, "G4F_PUBLIC_BASE_URL must be an http or https URL"),
        ({"G4F_PUBLIC_BASE_URL": "https://user:hunter2@gw.example.com"}, "must not contain a user name or password"),
        ({"G4F_MEDIA_STORAGE": "s3"}, "G4F_MEDIA_STORAGE=s3 needs G4F_S3_BUCKET"),
        ({"G4F_MEDIA_STORAGE": "dropbox"}, "G4F_MEDIA_STORAGE must be one of filesystem, s3"),
    ],
)
def test_a_bad_setting_stops_start_up_with_a_clear_message(tmp_path, env, message):
    done = subprocess.run(
        [G4F, "api", "--port", str(free_port())],
        cwd=ROOT,
        env=clean_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "g4f: configuration error:" in done.stderr and message in done.stderr
    assert "Traceback" not in done.stderr and "hunter2" not in done.stderr
