"""The file limit store's records, through its memory map and past it (completions.limits.file_store),
as two processes of one machine share them."""

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from catalogue.snapshot import ApiKeyEntry
from completions.limits.file_store import MAPPED_BYTES, RECORD, FileKeyLimiter

ROOT = Path(__file__).resolve().parents[2]
IDS = (3, MAPPED_BYTES // RECORD.size + 3)  # a record in the mapped part, one past it

OTHER_PROCESS = """
import asyncio, json, sys
import django
django.setup()
from catalogue.snapshot import ApiKeyEntry
from completions.limits.file_store import FileKeyLimiter

path, ids = sys.argv[1], json.loads(sys.argv[2])
limiter = FileKeyLimiter(path)

async def main():
    answers = []
    for key_id in ids:
        key = ApiKeyEntry(id=key_id, name="k", prefix="", rpm=3)
        answers.append([(await limiter.admit(key, 0)).refused is None for _ in range(2)])
    print(json.dumps(answers))

asyncio.run(main())
"""


def test_both_kinds_of_record_are_shared_with_another_process(tmp_path):
    path = str(tmp_path / "key-limits.bin")
    limiter = FileKeyLimiter(path)

    async def admit_twice() -> None:
        for key_id in IDS:
            key = ApiKeyEntry(id=key_id, name="k", prefix="", rpm=3)
            assert [(await limiter.admit(key, 0)).refused is None for _ in range(2)] == [True, True]

    asyncio.run(admit_twice())
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "g4fsite.settings", "G4F_DATA_DIR": str(tmp_path)}
    other = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS, path, json.dumps(IDS)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.returncode == 0, other.stderr
    # Each key had 2 of its 3 requests taken here: the other process gets one more, then a refusal.
    assert json.loads(other.stdout.strip().splitlines()[-1]) == [[True, False], [True, False]]


def test_a_longer_file_is_never_shortened(tmp_path):
    path = tmp_path / "key-limits.bin"
    with open(path, "wb") as file:
        file.truncate(MAPPED_BYTES * 2)
        file.seek(MAPPED_BYTES + RECORD.size * 5)
        file.write(RECORD.pack(1.0, 2, 3.0, 4, 5, 6.0, 7, 8.0))
    key = ApiKeyEntry(id=MAPPED_BYTES // RECORD.size + 5, name="k", prefix="")
    record = FileKeyLimiter(str(path))._update(key.id, lambda record: False)
    assert os.path.getsize(path) == MAPPED_BYTES * 2
    assert record == [1.0, 2, 3.0, 4, 5, 6.0, 7, 8.0]
