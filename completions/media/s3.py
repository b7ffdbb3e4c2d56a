"""The S3-compatible media storage (`G4F_MEDIA_STORAGE=s3`, configured in `g4fsite/media_settings.py`).

django-storages' `S3Storage`, except that opening an object for reading sends the GET at once (a
missing object is `FileNotFoundError` there and then, before `/media/` answers 200) and hands back
the response body as it arrives: `/media/` streams it instead of downloading it whole first. And
deleting reports every error: django-storages takes any 404 for "already gone", a missing bucket
(`NoSuchBucket`) included, and `cleanmedia` would drop the records of objects it never removed.
"""

from botocore.exceptions import ClientError
from django.core.files import File
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code"))


class S3MediaStorage(S3Storage):
    def _open(self, name: str, mode: str = "rb") -> File:
        if mode != "rb":
            return super()._open(name, mode)
        key = self._normalize_name(clean_name(name))
        try:
            answer = self.connection.meta.client.get_object(Bucket=self.bucket_name, Key=key)
        except ClientError as exc:
            if _error_code(exc) in MISSING_CODES:
                raise FileNotFoundError(f"No such media object: {name}") from None
            raise
        return File(answer["Body"], name)

    def delete(self, name: str) -> None:
        key = self._normalize_name(clean_name(name))
        try:
            # S3 answers 204 for a key that is already gone; an error is a real one.
            self.connection.meta.client.delete_object(Bucket=self.bucket_name, Key=key)
        except ClientError as exc:
            if _error_code(exc) != "NoSuchKey":
                raise
