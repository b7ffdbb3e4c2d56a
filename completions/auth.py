"""Who is calling: a gateway API key, the master key, or nobody when auth is off.

Auth is on when a master key is configured (`G4F_API_KEY`) or any ApiKey row exists. Keys come in
`Authorization: Bearer KEY`, `g4f-api-key: KEY` or `x-api-key: KEY` (Anthropic's clients) and are
checked against the cached catalogue snapshot, never the database.
"""

import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rest_framework.permissions import BasePermission

from catalogue.selectors import catalogue_snapshot
from catalogue.services import api_key_hash
from catalogue.snapshot import ApiKeyEntry, CatalogueSnapshot
from completions import errors
from completions.usage import usage_recorder
from g4fsite.conf import gateway_settings


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated client. `owner` identifies it for ownership checks ("" when auth is off);
    `key` is its key's entry with limits and allowed models (None for the master key and no auth)."""

    key_id: int | None
    name: str
    key: ApiKeyEntry | None = field(default=None, compare=False, repr=False)

    @property
    def owner(self) -> str:
        if self.key_id is not None:
            return f"key:{self.key_id}"
        return "master" if self.name == "master" else ""


ANONYMOUS = Caller(key_id=None, name="")
MASTER = Caller(key_id=None, name="master")


def key_from_headers(headers: Mapping[str, str]) -> str:
    """The client's key from lower-cased header names, or ""."""
    authorization = headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return (headers.get("g4f-api-key") or headers.get("x-api-key") or "").strip()


def authenticate(snapshot: CatalogueSnapshot, key: str) -> Caller:
    """Check a key; raise AuthenticationFailed when auth is on and the key is missing or wrong."""
    master = gateway_settings.API_KEY
    if not master and not snapshot.has_api_keys:
        return ANONYMOUS
    if not key:
        raise errors.AuthenticationFailed()
    if master and hmac.compare_digest(key.encode(), master.encode()):
        return MASTER
    entry = snapshot.api_keys.get(api_key_hash(key))
    if entry is None:
        raise errors.AuthenticationFailed("Invalid API key." if key else None)
    if entry.expires_at is not None and entry.expires_at <= time.time():
        expired = datetime.fromtimestamp(entry.expires_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        raise errors.AuthenticationFailed(f"The API key expired on {expired}.")
    usage_recorder.touch_key(entry.id)
    return Caller(key_id=entry.id, name=entry.name, key=entry)


class ApiKeyPermission(BasePermission):
    """DRF permission for the catalogue endpoints; sets `request.caller`."""

    def has_permission(self, request, view) -> bool:
        headers = {
            "authorization": request.headers.get("Authorization", ""),
            "g4f-api-key": request.headers.get("g4f-api-key", ""),
            "x-api-key": request.headers.get("x-api-key", ""),
        }
        request.caller = authenticate(catalogue_snapshot(), key_from_headers(headers))
        return True
