"""`POST /v1/upload_cookies` (multipart `files`): cookie files a browser exported, stored for providers.

Uploaded cookies are shared: they ride on every key's requests to matching providers. So the caller
must be the master key (`G4F_API_KEY`), or any key when the operator sets `COOKIE_UPLOAD_ALLOW_KEYS`;
with auth off (no keys at all, a local single-user install) only loopback clients may upload.
Authenticated, authorised and its content type checked before the body is read
(`MultipartBodyMixin`); every file is parsed and checked, and the per-domain caps applied, before
anything is stored.
"""

import ipaddress
import itertools
from typing import Any

from asgiref.sync import sync_to_async

from completions import errors
from completions.auth import MASTER, Caller
from completions.cookies.jar import CookieEntry, cookies_parse, cookies_store
from completions.http.consumer import GatewayHttpConsumer
from completions.http.multipart import MULTIPART_OVERHEAD, MultipartBodyMixin, parse_form
from g4fsite.conf import gateway_settings

MAX_COOKIE_FILES = 10


class UploadCookiesConsumer(MultipartBodyMixin, GatewayHttpConsumer):
    """Every file is parsed and checked before anything is stored; then all are stored at once."""

    def body_limit(self) -> int:
        return gateway_settings.COOKIE_MAX_BYTES * MAX_COOKIE_FILES + MULTIPART_OVERHEAD

    async def authenticate(self) -> Caller:
        caller = await super().authenticate()
        cookie_upload_authorize(caller, client_host=(self.scope.get("client") or ("",))[0])
        return caller

    async def serve(self, body: bytes) -> None:
        form = parse_form(body, self.headers.get("content-type", ""))
        uploads = [upload for upload in form.files if upload.field in ("files", "files[]", "file")]
        if not uploads:
            raise errors.ValidationFailed(
                "Send one or more cookie files in the multipart field 'files'.", param="files"
            )
        if len(uploads) > MAX_COOKIE_FILES:
            raise errors.ValidationFailed(f"At most {MAX_COOKIE_FILES} files per upload.", param="files")
        limit = gateway_settings.COOKIE_MAX_BYTES
        parsed: list[tuple[str, list[CookieEntry]]] = []
        for upload in uploads:
            if len(upload.data) > limit:
                raise errors.RequestTooLarge(f"'{upload.filename}' is larger than {limit} bytes.", param="files")
            parsed.append((upload.filename, cookies_parse(upload.data, filename=upload.filename)))
        stored = await sync_to_async(cookies_store)(cookies=itertools.chain.from_iterable(c for _, c in parsed))
        await self.send_json(200, upload_summary(parsed, stored))


def cookie_upload_authorize(caller: Caller, *, client_host: str) -> None:
    """PermissionDenied unless this caller may replace the cookies every key's requests carry."""
    if caller == MASTER:
        return
    if caller.key_id is not None:
        if gateway_settings.COOKIE_UPLOAD_ALLOW_KEYS:
            return
        raise errors.PermissionDenied(
            "Uploading cookies needs the master key (G4F_API_KEY): uploaded cookies are sent on every "
            "key's requests. The operator may allow any key with the COOKIE_UPLOAD_ALLOW_KEYS setting."
        )
    if not _is_loopback(client_host):  # auth is off: a local install, reachable by others only by mistake
        raise errors.PermissionDenied(
            "Without API keys, cookies may be uploaded only from this machine. Set G4F_API_KEY and send it "
            "to upload from elsewhere."
        )


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def upload_summary(parsed: list[tuple[str, list[CookieEntry]]], stored: dict[str, int]) -> dict[str, Any]:
    """What was stored, by file and by domain: names and counts, never values."""
    return {
        "object": "cookie_upload",
        "files": [
            {"filename": name, "cookies": len(cookies), "domains": sorted({c.domain for c in cookies})}
            for name, cookies in parsed
        ],
        "domains": [{"domain": domain, "cookies": count} for domain, count in stored.items()],
        "stored": sum(stored.values()),
    }
