"""Provider cookies: parse browser exports, store them per domain, send them to matching providers.

Accepted files (`POST /v1/upload_cookies`, field `files`): a JSON list of cookie objects
(EditThisCookie, Cookie-Editor: `name, value, domain, path, expirationDate, secure`), a Netscape
`cookies.txt`, or a HAR file (cookies of `log.entries[].request` / `.response`, the domain taken from
the request URL when a cookie has none).

A cookie is sent to a provider when the host of the provider's base URL domain-matches the cookie's
domain (RFC 6265 5.1.3: the host equals the domain or ends with "." + domain), the path matches, and,
for a `secure` cookie, the base URL is https. Matching happens when the catalogue snapshot is built
(`cookie_jar_load` / `cookies_matching`, stored on each `ProviderEntry`), so the request path only
drops expired cookies (`cookies_for`) and never queries the database.
"""

import ipaddress
import math
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
from django.db import transaction

from catalogue.cache import catalogue_invalidate
from completions import errors
from completions.cookies.domains import domain_limits_check
from completions.models import ProviderCookie

MAX_COOKIES_PER_FILE = 10_000
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 6265 cookie-name (an RFC 2616 token)
_BAD_VALUE = re.compile(r"[\x00-\x1f\x7f;]")
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")


@dataclass(frozen=True, slots=True)
class CookieEntry:
    """One stored cookie, as the request path needs it."""

    domain: str
    name: str
    value: str
    path: str = "/"
    expires: float | None = None  # Unix time; None: a session cookie
    secure: bool = False

    def expired(self, now: float) -> bool:
        return self.expires is not None and self.expires <= now


# --- parsing --------------------------------------------------------------------------------------


def cookies_parse(data: bytes, *, filename: str) -> list[CookieEntry]:
    """The cookies of one exported file; errors.InvalidCookieFile (400) naming the file when it is malformed."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise errors.InvalidCookieFile(f"'{filename}' is not UTF-8 text.", param="files") from None
    stripped = text.lstrip()
    if not stripped:
        raise errors.InvalidCookieFile(f"'{filename}' is empty.", param="files")
    try:
        if stripped[0] in "[{":
            cookies = _from_json(_json(stripped, filename), filename)
        else:
            cookies = _from_netscape(text, filename)
    except errors.InvalidCookieFile:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise errors.InvalidCookieFile(f"'{filename}' is not a cookie export: {exc}", param="files") from None
    if len(cookies) > MAX_COOKIES_PER_FILE:
        raise errors.InvalidCookieFile(f"'{filename}' holds more than {MAX_COOKIES_PER_FILE} cookies.", param="files")
    return cookies


def _json(text: str, filename: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise errors.InvalidCookieFile(f"'{filename}' is not valid JSON: {exc}", param="files") from None


def _from_json(document: Any, filename: str) -> list[CookieEntry]:
    if isinstance(document, dict) and isinstance(document.get("log"), dict):
        return _from_har(document["log"], filename)
    if isinstance(document, dict) and isinstance(document.get("cookies"), list):
        document = document["cookies"]
    if not isinstance(document, list):
        raise errors.InvalidCookieFile(f"'{filename}' is neither a list of cookies nor a HAR file.", param="files")
    cookies = []
    for index, item in enumerate(document):
        if not isinstance(item, dict):
            raise errors.InvalidCookieFile(f"'{filename}': cookie {index} is not an object.", param="files")
        expires = item.get("expirationDate", item.get("expires"))
        cookies.append(
            _cookie(
                filename,
                domain=item.get("domain"),
                name=item.get("name"),
                value=item.get("value"),
                path=item.get("path") or "/",
                expires=None if item.get("session") is True else expires,
                secure=bool(item.get("secure")),
            )
        )
    return cookies


def _from_netscape(text: str, filename: str) -> list[CookieEntry]:
    cookies = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("#HttpOnly_"):
            line = line[len("#HttpOnly_") :]
        elif not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) == 6:  # an empty value, its tab stripped by some exporters
            fields.append("")
        if len(fields) != 7:
            raise errors.InvalidCookieFile(
                f"'{filename}' line {number}: expected 7 tab-separated fields (Netscape cookies.txt).", param="files"
            )
        domain, _subdomains, path, secure, expires, name, value = fields
        cookies.append(
            _cookie(
                filename,
                domain=domain,
                name=name,
                value=value,
                path=path or "/",
                expires=int(expires) or None,
                secure=secure.upper() == "TRUE",
            )
        )
    if not cookies:
        raise errors.InvalidCookieFile(f"'{filename}' holds no cookies.", param="files")
    return cookies


def _from_har(log: dict[str, Any], filename: str) -> list[CookieEntry]:
    entries = log.get("entries")
    if not isinstance(entries, list):
        raise errors.InvalidCookieFile(f"'{filename}': a HAR file needs 'log.entries'.", param="files")
    cookies = []
    for entry in entries:
        request = entry.get("request") or {}
        host = urlsplit(str(request.get("url", ""))).hostname or ""
        for part in (request, entry.get("response") or {}):
            for item in part.get("cookies") or ():
                cookies.append(
                    _cookie(
                        filename,
                        domain=item.get("domain") or host,
                        name=item.get("name"),
                        value=item.get("value"),
                        path=item.get("path") or "/",
                        expires=item.get("expires"),
                        secure=bool(item.get("secure")),
                    )
                )
    return cookies


def _cookie(filename: str, *, domain: Any, name: Any, value: Any, path: Any, expires: Any, secure: bool) -> CookieEntry:
    where = f"'{filename}': cookie {name!r}"
    if not isinstance(name, str) or not _TOKEN.match(name):
        raise errors.InvalidCookieFile(f"'{filename}': a cookie has an invalid name ({name!r}).", param="files")
    if not isinstance(value, str) or _BAD_VALUE.search(value):
        raise errors.InvalidCookieFile(f"{where} has an invalid value.", param="files")
    normalised = cookie_domain(domain)
    if normalised is None:
        raise errors.InvalidCookieFile(f"{where} has an invalid domain ({domain!r}).", param="files")
    if not isinstance(path, str) or not path.startswith("/") or _BAD_VALUE.search(path):
        raise errors.InvalidCookieFile(f"{where} has an invalid path.", param="files")
    return CookieEntry(normalised, name, value, path[:1000], _expiry(expires, where), secure)


def cookie_domain(domain: Any) -> str | None:
    """A cookie domain lower-cased without its leading dot, or None when it is not a host name or IP."""
    if not isinstance(domain, str):
        return None
    domain = domain.strip().lstrip(".").lower()
    if not domain or len(domain) > 253:
        return None
    try:
        return str(ipaddress.ip_address(domain.strip("[]")))
    except ValueError:
        pass
    labels = domain.rstrip(".").split(".")
    return domain.rstrip(".") if all(_LABEL.match(label) for label in labels) else None


MAX_COOKIE_EXPIRY = 253_402_300_799.0  # 9999-12-31T23:59:59Z, the last second a datetime can hold


def _expiry(value: Any, where: str) -> float | None:
    """Unix time from seconds (numbers or digit strings) or an ISO 8601 / HTTP date; None: session.

    Times past the end of year 9999 (the last a database date can hold) are kept as that moment,
    as browsers cap far-off expiries; NaN and infinity are refused."""
    if value in (None, "", 0, -1, False):
        return None
    if isinstance(value, bool):
        raise errors.InvalidCookieFile(f"{where} has an invalid expiry.", param="files")
    if isinstance(value, int):
        return float(min(max(value, 0), MAX_COOKIE_EXPIRY))  # a huge int would overflow float()
    if isinstance(value, float):
        return _bounded_expiry(value, where)
    if isinstance(value, str):
        try:
            return _bounded_expiry(float(value), where)
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            from email.utils import parsedate_to_datetime

            try:
                parsed = parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError, OverflowError):
                raise errors.InvalidCookieFile(f"{where} has an invalid expiry ({value!r}).", param="files") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return _bounded_expiry(parsed.timestamp(), where)
    raise errors.InvalidCookieFile(f"{where} has an invalid expiry.", param="files")


def _bounded_expiry(seconds: float, where: str) -> float:
    """`seconds` within [0, MAX_COOKIE_EXPIRY]; InvalidCookieFile for NaN or infinity."""
    if not math.isfinite(seconds):
        raise errors.InvalidCookieFile(f"{where} has an invalid expiry.", param="files")
    return min(max(seconds, 0.0), MAX_COOKIE_EXPIRY)


# --- storing --------------------------------------------------------------------------------------


def cookies_store(*, cookies: Iterable[CookieEntry]) -> dict[str, int]:
    """Upsert cookies by (domain, name, path) in one transaction; return the count stored per domain.

    Cookies already expired are skipped; CookieLimitExceeded (nothing stored) when a domain would pass
    its caps. Every process rebuilds its snapshot (and so its cookie jar)
    after the commit.
    """
    now = time.time()
    rows: dict[tuple[str, str, str], ProviderCookie] = {}
    for cookie in cookies:
        if cookie.expired(now):
            continue
        expires = datetime.fromtimestamp(cookie.expires, UTC) if cookie.expires is not None else None
        rows[(cookie.domain, cookie.name, cookie.path)] = ProviderCookie(
            domain=cookie.domain,
            name=cookie.name,
            path=cookie.path,
            value=cookie.value,
            expires=expires,
            secure=cookie.secure,
        )
    counts: dict[str, int] = {}
    for domain, _name, _path in rows:
        counts[domain] = counts.get(domain, 0) + 1
    with transaction.atomic():
        domain_limits_check(rows.values())
        ProviderCookie.objects.bulk_create(
            list(rows.values()),
            update_conflicts=True,
            unique_fields=["domain", "name", "path"],
            update_fields=["value", "expires", "secure", "updated_at"],
        )
        catalogue_invalidate()
    return dict(sorted(counts.items()))


# --- sending --------------------------------------------------------------------------------------


def cookie_jar_load() -> dict[str, tuple[CookieEntry, ...]]:
    """Every stored, unexpired cookie by domain (read when the catalogue snapshot is built)."""
    now = time.time()
    jar: dict[str, list[CookieEntry]] = {}
    for row in ProviderCookie.objects.order_by("domain", "path", "name"):
        expires = row.expires.timestamp() if row.expires is not None else None
        entry = CookieEntry(row.domain, row.name, row.value, row.path, expires, row.secure)
        if not entry.expired(now):
            jar.setdefault(row.domain, []).append(entry)
    return {domain: tuple(entries) for domain, entries in jar.items()}


def domain_matches(host: str, domain: str) -> bool:
    """RFC 6265 5.1.3: the host is the domain, or a host name ending in "." + domain. Neither side may
    be an IP address in the second case (browsers treat an IP cookie domain as host-only too)."""
    if host == domain:
        return True
    if not host.endswith("." + domain):
        return False
    for name in (host, domain):
        try:
            ipaddress.ip_address(name)
        except ValueError:
            continue
        return False
    return True


def cookies_matching(jar: dict[str, tuple[CookieEntry, ...]], base_url: str) -> tuple[CookieEntry, ...]:
    """The cookies of `jar` a provider with this base URL may receive, least specific domain first."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if not host or not jar:
        return ()
    path = parts.path or "/"
    https = parts.scheme == "https"
    matched = [
        cookie
        for domain in sorted(jar, key=len)
        if domain_matches(host, domain)
        for cookie in jar[domain]
        if (https or not cookie.secure) and _path_matches(path, cookie.path)
    ]
    return tuple(matched)


def _path_matches(request_path: str, cookie_path: str) -> bool:
    """RFC 6265 5.1.4, for the base URL's path (every endpoint of a provider lies below it)."""
    if request_path == cookie_path or cookie_path == "/":
        return True
    return request_path.startswith(cookie_path) and (cookie_path.endswith("/") or request_path[len(cookie_path)] == "/")


def cookies_for(provider: Any) -> dict[str, str]:
    """Cookie name -> value for an upstream request to this `ProviderEntry`, expired ones dropped.

    The more specific domain wins when two cookies share a name. No database query.
    """
    entries = getattr(provider, "cookies", ())
    if not entries:
        return {}
    now = time.time()
    return {cookie.name: cookie.value for cookie in entries if not cookie.expired(now)}
