"""Upstream failures as gateway errors: transport exceptions (`translate_errors`) and error statuses
(`raise_for_upstream_status`, with the message from whatever error body the protocol sends).

Upstream text enters the gateway here, and only here is it let in: `redact` removes the provider's
own credential and cookie values (`secrets`) and anything shaped like a bearer token or API key from
every upstream message before it can reach a client, a log, a usage row or the admin. It runs on
error text only, never on a successful answer.
"""

import contextlib
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx2
import orjson

from completions import errors
from completions.upstream.transport import UpstreamResponse

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 6  # shorter values (a cookie "1") would blank out ordinary words and digits
# Token-shaped secrets whoever they belong to: "Bearer x", vendor key prefixes, key=... in URLs.
_SECRET_SHAPES = re.compile(
    r"(?i:\bbearer\s+)[A-Za-z0-9._~+/=*-]{6,}"
    r"|(?i:\bbasic\s+)(?=[A-Za-z+/=]*\d)[A-Za-z0-9+/]{8,}=*"
    r"|\b(?:sk|pk|rk)-[A-Za-z0-9_*-]{6,}"
    r"|\bAIza[0-9A-Za-z_-]{20,}"
    r"|\b(?:gsk|hf|ghp|gho|ghu|ghs|github_pat|glpat|xai|xoxb|xoxp|r8)[_-][A-Za-z0-9_-]{8,}"
    r"|(?i:(?<=[?&;])(?:key|api[_-]?key|access_token|token|secret)=)[^&\s\"'<>]+"
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without the given secret values nor anything shaped like a token or API key."""
    text = _SECRET_SHAPES.sub(_redacted_match, text)
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_LENGTH and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _redacted_match(match: re.Match[str]) -> str:
    found = match.group(0)
    word, space, _ = found.rpartition(" ")  # keep "Bearer " / "key=" so the message still reads
    if space:
        return f"{word} {REDACTED}"
    name, equals, _ = found.partition("=")
    return f"{name}={REDACTED}" if equals and not found.startswith(("sk-", "pk-", "rk-")) else REDACTED


# What `translate_errors` turns into (or redacts as) a gateway error.
TRANSLATED_ERRORS = (httpx2.HTTPError, errors.GatewayError)


@contextlib.contextmanager
def translate_errors(secrets: Iterable[str] = ()) -> Iterator[None]:
    """Turn the transport's httpx2 exceptions into the most specific gateway error, `from` the
    original; redact `secrets` (and token shapes) from the message of every gateway error raised
    inside, including those built from an upstream's error body or stream (`translated_error`)."""
    try:
        yield
    except TRANSLATED_ERRORS as exc:
        error = translated_error(exc, secrets)
        if error is exc:
            raise
        raise error from exc


def translated_error(exc: httpx2.HTTPError | errors.GatewayError, secrets: Iterable[str]) -> errors.GatewayError:
    """The gateway error `translate_errors` raises for `exc`: a new one for a transport exception,
    the same one (its message redacted) for a gateway error."""
    if isinstance(exc, errors.GatewayError):
        exc.message = redact(exc.message, secrets)
        exc.args = (exc.message,)
        return exc
    if isinstance(exc, httpx2.TimeoutException):
        return errors.UpstreamTimeout(f"The provider did not answer in time ({type(exc).__name__}).")
    if isinstance(exc, httpx2.RemoteProtocolError):
        return errors.ProviderDisconnected(redact(f"The provider closed the connection: {exc}", secrets))
    if isinstance(exc, httpx2.NetworkError | httpx2.ProxyError):
        return errors.ProviderUnreachable(
            redact(f"The provider could not be reached: {exc or type(exc).__name__}", secrets)
        )
    return errors.ProviderError(redact(f"Upstream HTTP error: {exc or type(exc).__name__}", secrets))


def upstream_error_message(response: UpstreamResponse) -> str:
    """The most useful message from an upstream error body, whatever its protocol's shape, with
    token-shaped secrets redacted (the provider's own are redacted by `translate_errors`)."""
    return redact(_error_text(response))


def _error_text(response: UpstreamResponse) -> str:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        text = response.text.strip()
        return text[:300] or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail")
            if message:
                return str(message)[:500]
        elif isinstance(error, str):
            return error[:500]
        if isinstance(body.get("detail"), str):
            return body["detail"][:500]
    if isinstance(body, list) and body and isinstance(body[0], dict) and isinstance(body[0].get("error"), dict):
        return str(body[0]["error"].get("message", ""))[:500] or f"HTTP {response.status_code}"
    return f"HTTP {response.status_code}"


def raise_for_upstream_status(response: UpstreamResponse) -> None:
    """Raise the gateway error that matches an upstream error status (a no-op below 400)."""
    status = response.status_code
    if status < 400:
        return
    message = f"HTTP {status}: {upstream_error_message(response)}"
    if status in (400, 413, 422):
        raise errors.UpstreamBadRequest(message)
    if status in (401, 403):
        raise errors.UpstreamAuthFailed(message)
    if status == 404:  # a model or path the client chose (a passed-through model name): not the provider's fault
        raise errors.UpstreamNotFound(message)
    if status == 429:
        raise errors.RateLimited(message, retry_after=retry_after_seconds(response.headers.get("retry-after")))
    if status in (408, 504):
        raise errors.UpstreamTimeout(message)
    raise errors.ProviderError(message)


def retry_after_seconds(value: str | None) -> float | None:
    """A `Retry-After` header (seconds, or an HTTP date) as seconds from now; None when absent or unreadable."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
