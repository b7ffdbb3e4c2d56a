"""Client-supplied URLs: decode `data:` URLs, fetch http(s) URLs from public addresses only.

Some protocols (Gemini) need an `image_url` as inline bytes, so the gateway fetches it itself; a
client must not be able to aim that fetch at the gateway's own network (SSRF). `fetch_public`:

- accepts http and https only;
- resolves the host and refuses it when *any* of its addresses is not public: loopback, private,
  link-local (169.254.169.254 and other metadata endpoints), shared/CGNAT (100.64/10), multicast,
  reserved, unspecified, and IPv4 addresses embedded in IPv6 (mapped, 6to4, Teredo, NAT64);
- connects to the address it vetted, keeping the name in the Host header and TLS SNI, so a DNS
  answer that changes between the check and the connection (rebinding) cannot move it;
- follows at most `MAX_REDIRECTS` redirects itself, vetting every hop the same way;
- streams the body and gives up past `max_bytes`; `timeout` bounds the whole fetch, DNS included.

Refusals are `InvalidRequest` (400) with code `image_url_refused`, `image_url_too_large` or
`image_url_unreachable`. The fetch goes through the `UpstreamTransport` it is given (the shared pool in
production), whose pooled TLS connections are keyed by address *and* server name, so a kept-alive
connection opened for one name never carries a request for another.
"""

import asyncio
import base64
import binascii
import contextlib
import ipaddress
import socket
from urllib.parse import unquote_to_bytes

import httpx2

from completions import errors
from completions.upstream.transport import Timeout, UpstreamResponse, UpstreamTransport

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def refused(message: str) -> errors.ImageUrlRefused:
    return errors.ImageUrlRefused(message)


def unreachable(message: str) -> errors.ImageUrlUnreachable:
    return errors.ImageUrlUnreachable(message)


def too_large(max_bytes: int) -> errors.ImageUrlTooLarge:
    return errors.ImageUrlTooLarge(f"The image URL's content is larger than {max_bytes} bytes.")


def parse_data_url(url: str) -> tuple[str, str]:
    """Split a `data:` URL into its media type and base64 payload; ValidationFailed when malformed."""
    header, comma, payload = url.partition(",")
    if not comma or not header.lower().startswith("data:"):
        raise errors.ValidationFailed("Malformed data URL: expected 'data:<type>;base64,<data>'.", param="messages")
    media_type, *params = header[5:].split(";")
    media_type = media_type.strip().lower() or "text/plain"
    if "base64" in (param.strip().lower() for param in params):
        try:
            base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise errors.ValidationFailed("Malformed data URL: the payload is not base64.", param="messages") from exc
        return media_type, payload
    return media_type, base64.b64encode(unquote_to_bytes(payload)).decode("ascii")


def is_public_address(address: IPAddress) -> bool:
    """True when the address is globally routable and not special-purpose (also when embedded)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
    special = (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )
    return address.is_global and not special


async def resolve_addresses(host: str, port: int) -> list[str]:
    """Every address the host name resolves to (tests replace this seam)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


async def fetch_public(url: str, *, client: UpstreamTransport, max_bytes: int, timeout: float) -> tuple[bytes, str]:
    """Fetch a URL from a public address; return its body and content type.

    Raises `InvalidRequest` (400) coded `image_url_refused` (scheme, address, redirects),
    `image_url_too_large` or `image_url_unreachable` (DNS, connection, HTTP error status, timeout).
    """
    try:
        current = httpx2.URL(url)
    except (httpx2.InvalidURL, TypeError) as exc:
        raise refused(f"The image URL is not a valid URL: {exc}") from exc
    try:
        async with asyncio.timeout(timeout):
            for _hop in range(MAX_REDIRECTS + 1):
                address = await _vetted_address(current)
                try:
                    async with _pinned_stream(client, current, address, timeout) as response:
                        location = response.headers.get("location")
                        if response.status_code in REDIRECT_STATUSES and location:
                            current = current.join(location)
                            continue
                        if not 200 <= response.status_code < 300:
                            raise unreachable(f"The image URL answered HTTP {response.status_code}.")
                        return await _read_limited(response, max_bytes), _content_type(response)
                except httpx2.HTTPError as exc:
                    raise unreachable(f"The image URL could not be fetched: {exc or type(exc).__name__}.") from exc
    except TimeoutError as exc:
        raise unreachable(f"The image URL did not answer within {timeout:g} seconds.") from exc
    raise refused(f"The image URL redirected more than {MAX_REDIRECTS} times.")


async def _vetted_address(url: httpx2.URL) -> str:
    """The address to connect to, after checking that every address of the host is public."""
    if url.scheme not in ("http", "https"):
        raise refused(f"Only http and https image URLs can be fetched, not '{url.scheme}'.")
    host = url.raw_host.decode("ascii")
    if not host:
        raise refused("The image URL has no host.")
    try:
        addresses = [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            resolved = await resolve_addresses(host, port)
        except (OSError, UnicodeError) as exc:
            raise unreachable(f"The image URL's host '{host}' could not be resolved.") from exc
        try:
            addresses = [ipaddress.ip_address(address.split("%", 1)[0]) for address in resolved]
        except ValueError as exc:
            raise unreachable(f"The image URL's host '{host}' resolved to an unusable address.") from exc
        if not addresses:
            raise unreachable(f"The image URL's host '{host}' has no address.") from None
    for address in addresses:
        if not is_public_address(address):
            raise refused(f"The image URL's host '{host}' is not a public address ({address}); the gateway refuses it.")
    return str(addresses[0])


def _pinned_stream(
    client: UpstreamTransport, url: httpx2.URL, address: str, timeout: float
) -> contextlib.AbstractAsyncContextManager[UpstreamResponse]:
    """GET the URL from the vetted address, keeping the host name for HTTP and TLS."""
    host = url.raw_host.decode("ascii")
    pinned = url.scheme == "https" and address != host.strip("[]")
    return client.stream(
        "GET",
        str(url.copy_with(host=address)),
        headers={"host": url.netloc.decode("ascii"), "accept": "image/*,*/*;q=0.5", "accept-encoding": "identity"},
        timeout=Timeout(timeout),
        server_hostname=host if pinned else None,
    )


async def _read_limited(response: UpstreamResponse, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large(max_bytes)
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise too_large(max_bytes)
    return bytes(body)


def _content_type(response: UpstreamResponse) -> str:
    value = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return value or "application/octet-stream"
