"""The request path reads a cached snapshot; a change anywhere (even another process) rebuilds it."""

import subprocess
import sys
from pathlib import Path

from catalogue import services
from catalogue.cache import catalogue_stamp, catalogue_stamp_renew
from catalogue.selectors import catalogue_snapshot

ROOT = Path(__file__).resolve().parents[2]


def test_snapshot_is_cached_until_the_catalogue_changes(transactional_db, django_assert_num_queries):
    services.catalogue_import(
        data={"providers": [{"name": "p", "base_url": "http://127.0.0.1:9/v1", "models": [{"name": "m"}]}]}
    )
    first = catalogue_snapshot()
    with django_assert_num_queries(0):
        assert catalogue_snapshot() is first
    services.api_key_create(name="k")
    second = catalogue_snapshot()
    assert second is not first and second.has_api_keys
    assert second.model("M").name == "m" and second.provider("P").name == "p"


def test_another_process_changing_the_catalogue_changes_the_stamp(transactional_db, settings):
    before = catalogue_stamp()
    script = "from catalogue.cache import catalogue_stamp_renew; catalogue_stamp_renew()"
    subprocess.run(
        [
            sys.executable,
            "-c",
            f"import django, os; os.environ['DJANGO_SETTINGS_MODULE']='g4fsite.settings'; django.setup(); {script}",
        ],
        cwd=ROOT,
        env={"G4F_DATA_DIR": str(settings.DATA_DIR), "PATH": "/usr/bin:/bin"},
        check=True,
        timeout=60,
    )
    assert catalogue_stamp() != before


def test_a_stamp_file_deleted_and_made_anew_is_followed(settings, tmp_path, monkeypatch):
    from catalogue import cache

    settings.DATA_DIR = tmp_path
    monkeypatch.setattr(cache, "RECHECK_SECONDS", 3600.0)
    first = catalogue_stamp()
    assert catalogue_stamp() == first  # a memory read, stable while nothing changes
    (tmp_path / "catalogue.stamp").unlink()
    catalogue_stamp_renew()  # a new file: the old mapping cannot see it
    assert catalogue_stamp() == first  # not re-checked yet (once a second in production)
    monkeypatch.setattr(cache, "RECHECK_SECONDS", 0.0)
    assert catalogue_stamp() != first
    second = catalogue_stamp()
    catalogue_stamp_renew()  # written in place: seen at once
    assert catalogue_stamp() != second
