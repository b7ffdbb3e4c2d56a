"""Upstream failures as gateway errors: transport exceptions (`translate_errors`) and error statuses
(`raise_for_upstream_status`, with the message from whatever error body the protocol sends)."""

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx2
import orjson

from completions import errors
from completions.upstream.transport import UpstreamResponse


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Turn the transport's httpx2 exceptions into the most specific gateway error, `from` the original."""
    try:
        yield
    except httpx2.TimeoutException as exc:
        raise errors.UpstreamTimeout(f"The provider did not answer in time ({type(exc).__name__}).") from exc
    except httpx2.RemoteProtocolError as exc:
        raise errors.ProviderDisconnected(f"The provider closed the connection: {exc}") from exc
    except (httpx2.NetworkError, httpx2.ProxyError) as exc:
        raise errors.ProviderUnreachable(f"The provider could not be reached: {exc or type(exc).__name__}") from exc
    except httpx2.HTTPError as exc:
        raise errors.ProviderError(f"Upstream HTTP error: {exc or type(exc).__name__}") from exc


def upstream_error_message(response: UpstreamResponse) -> str:
    """The most useful message from an upstream error body, whatever its protocol's shape."""
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
