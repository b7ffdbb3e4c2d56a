"""Every error a client can see, and its OpenAI-style rendering.

The classes only set attributes (`status_code`, `type`, `code`, `default_message`); a subclass
inherits what it does not set. `error_body()` renders any of them as
`{"error": {"message", "type", "param", "code"}}`; the consumers and the DRF exception handler
(`completions.http.drf_errors`) use it; `completions.serializers.validation_error` turns a
serializer's errors into `ValidationFailed`.

    GatewayError (500 api_error / internal_error)
    ├── InvalidRequest (400 invalid_request_error)
    │   ├── InvalidJSON (400 invalid_json)
    │   ├── ValidationFailed (400 invalid_value; `param` names the field)
    │   │   ├── InvalidFileType (400 invalid_file_type)
    │   │   └── NestingTooDeep (400 nesting_too_deep: JSON nested deeper than the gateway takes)
    │   ├── UnsupportedCapability (400 unsupported_capability)
    │   ├── UpstreamBadRequest (400 upstream_bad_request: the upstream rejected the client's request)
    │   ├── UnsupportedMediaType (400 unsupported_media_type)
    │   ├── InvalidMultipart (400 invalid_multipart)
    │   ├── InvalidCookieFile (400 invalid_cookie_file)
    │   ├── CookieLimitExceeded (400 cookie_limit_exceeded: names the domain and the limit)
    │   ├── ImageUrlRefused (400 image_url_refused: not http(s), or not a public address)
    │   ├── ImageUrlUnreachable (400 image_url_unreachable)
    │   ├── ImageUrlTooLarge (400 image_url_too_large)
    │   ├── RequestTooLarge (413 request_too_large)
    │   │   └── TooManyMessages (413 too_many_messages: more than CONVERSATION_MAX_SENT_MESSAGES sent)
    │   ├── ConversationFull (400 conversation_full: CONVERSATION_MAX_STORED_MESSAGES reached)
    │   └── HostNotAllowed (400 host_not_allowed: the Host header is not in ALLOWED_HOSTS)
    ├── AuthenticationFailed (401 authentication_error / invalid_api_key)
    ├── PermissionDenied (403 permission_error)
    │   ├── CrossOriginRefused (403 cross_origin_refused: an Origin not allowed by G4F_CORS_ORIGINS)
    │   └── ModelNotAllowed (403 model_not_allowed: the key may not use this model or provider)
    ├── NotFound (404 invalid_request_error / not_found)
    │   ├── ModelNotFound (404 model_not_found)
    │   ├── ProviderNotFound (404 provider_not_found)
    │   ├── ConversationNotFound (404 conversation_not_found: missing, or another key's)
    │   ├── MediaNotFound (404 media_not_found)
    │   └── UpstreamNotFound (404 upstream_not_found: the upstream has no such model or path)
    ├── MethodNotAllowed (405 method_not_allowed)
    ├── Conflict (409 conflict)
    │   └── ConversationBusy (409 conversation_busy; sets Retry-After)
    ├── RateLimited (429 rate_limit_error / rate_limit_exceeded; sets Retry-After)
    │   ├── KeyRateLimited (429 rate_limit_exceeded: the key's rpm, tpm or max-concurrent)
    │   └── InsufficientQuota (429 insufficient_quota: the key's budget for the period is spent)
    ├── LimitStoreUnavailable (503 limit_store_unavailable: a limited key's counters cannot be reached)
    ├── MediaStorageUnavailable (503 media_storage_unavailable: the media storage failed to save or read)
    ├── ProviderError (502 api_error / provider_error)
    │   ├── UpstreamAuthFailed (502 provider_auth_failed)
    │   ├── UpstreamMalformed (502 provider_malformed_response)
    │   ├── UpstreamTimeout (504 provider_timeout)
    │   ├── ProviderDisconnected (502 provider_disconnected)
    │   ├── ProviderUnreachable (502 provider_unreachable)
    │   ├── StreamTruncated (502 stream_truncated: a stream ended without a finish reason)
    │   ├── AllProvidersFailed (502 all_providers_failed: names each provider tried and why)
    │   ├── ProviderOutOfCredit (502 provider_out_of_credit)
    │   ├── ProviderImageTooLarge (502 provider_image_too_large)
    │   ├── ProviderImageRefused (502 provider_image_refused: an image URL off the provider's origin
    │   │                         that is not a public address)
    │   ├── UpstreamResponseTooLarge (502 provider_response_too_large: past the size caps)
    │   └── LocalSpeechFailed (502 local_speech_failed)
    ├── ProviderNotWorking (503 provider_not_working)
    │   ├── LocalSpeechUnavailable (503 local_speech_unavailable)
    │   └── ProviderBusy (503 provider_busy: no free connection slot in time; sets Retry-After)
    │       └── LocalSpeechBusy (503 local_speech_busy: every speech process slot is taken)
    └── NotReady (503 not_ready: GET /readyz, a check failed; the body names which)
"""

from typing import Any

import orjson


class GatewayError(Exception):
    status_code = 500
    type = "api_error"
    code = "internal_error"
    default_message = "The gateway failed to handle the request."

    def __init__(
        self,
        message: str | None = None,
        *,
        param: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.param = param
        self.retry_after = retry_after
        super().__init__(self.message)


class InvalidRequest(GatewayError):
    status_code = 400
    type = "invalid_request_error"
    code = "invalid_request"
    default_message = "The request is not valid."


class InvalidJSON(InvalidRequest):
    code = "invalid_json"
    default_message = "The request body is not valid JSON."


class ValidationFailed(InvalidRequest):
    code = "invalid_value"


class InvalidFileType(ValidationFailed):
    code = "invalid_file_type"
    default_message = "The uploaded file is not of a type this endpoint takes."


class NestingTooDeep(ValidationFailed):
    code = "nesting_too_deep"
    default_message = "The request's JSON is nested too deeply."


class UnsupportedCapability(InvalidRequest):
    code = "unsupported_capability"
    default_message = "No provider for this model supports what the request needs."


class UpstreamBadRequest(InvalidRequest):
    code = "upstream_bad_request"
    default_message = "The provider rejected the request."


class UnsupportedMediaType(InvalidRequest):
    code = "unsupported_media_type"
    default_message = "The request's content type is not supported here."


class InvalidMultipart(InvalidRequest):
    code = "invalid_multipart"
    default_message = "The multipart/form-data body is malformed."


class InvalidCookieFile(InvalidRequest):
    code = "invalid_cookie_file"
    default_message = "The cookie file could not be read."


class CookieLimitExceeded(InvalidRequest):
    code = "cookie_limit_exceeded"
    default_message = "The upload would store more cookies for a domain than the gateway keeps."


class ImageUrlRefused(InvalidRequest):
    code = "image_url_refused"
    default_message = "The gateway refuses to fetch this image URL."


class ImageUrlUnreachable(InvalidRequest):
    code = "image_url_unreachable"
    default_message = "The image URL could not be fetched."


class ImageUrlTooLarge(InvalidRequest):
    code = "image_url_too_large"
    default_message = "The image URL's content is too large."


class RequestTooLarge(InvalidRequest):
    status_code = 413
    code = "request_too_large"
    default_message = "The request body is too large."


class TooManyMessages(RequestTooLarge):
    code = "too_many_messages"
    default_message = "The request sends more messages than a conversation turn may."


class ConversationFull(InvalidRequest):
    code = "conversation_full"
    default_message = "The conversation holds as many messages as it may; start a new conversation."


class HostNotAllowed(InvalidRequest):
    code = "host_not_allowed"
    default_message = "The Host header names a host this server does not serve; add it to ALLOWED_HOSTS."


class AuthenticationFailed(GatewayError):
    status_code = 401
    type = "authentication_error"
    code = "invalid_api_key"
    default_message = "Invalid or missing API key. Send 'Authorization: Bearer KEY' or 'g4f-api-key: KEY'."


class PermissionDenied(GatewayError):
    status_code = 403
    type = "permission_error"
    code = "permission_denied"
    default_message = "This key may not do that."


class CrossOriginRefused(PermissionDenied):
    code = "cross_origin_refused"
    default_message = "Requests from other web origins are refused; allow the origin with G4F_CORS_ORIGINS."


class ModelNotAllowed(PermissionDenied):
    code = "model_not_allowed"
    default_message = "This key may not use this model or provider."


class NotFound(GatewayError):
    status_code = 404
    type = "invalid_request_error"
    code = "not_found"
    default_message = "Not found."


class ModelNotFound(NotFound):
    code = "model_not_found"
    default_message = "The model does not exist."


class ProviderNotFound(NotFound):
    code = "provider_not_found"
    default_message = "The provider does not exist."


class ConversationNotFound(NotFound):
    code = "conversation_not_found"
    default_message = "The conversation does not exist."


class MediaNotFound(NotFound):
    code = "media_not_found"
    default_message = "No such media file."


class UpstreamNotFound(NotFound):
    code = "upstream_not_found"
    default_message = "The provider has no such model or endpoint."


class MethodNotAllowed(GatewayError):
    status_code = 405
    type = "invalid_request_error"
    code = "method_not_allowed"
    default_message = "Method not allowed."


class Conflict(GatewayError):
    status_code = 409
    type = "invalid_request_error"
    code = "conflict"
    default_message = "The request conflicts with another one in progress."


class ConversationBusy(Conflict):
    code = "conversation_busy"
    default_message = "Another request on this conversation is in progress; retry when it has finished."


class RateLimited(GatewayError):
    status_code = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"
    default_message = "Rate limited by the provider."


class KeyRateLimited(RateLimited):
    default_message = "This key's rate limit is reached; retry after the time Retry-After says."


class InsufficientQuota(RateLimited):
    type = "insufficient_quota"
    code = "insufficient_quota"
    default_message = "This key's budget for the period is spent."


class LimitStoreUnavailable(GatewayError):
    status_code = 503
    code = "limit_store_unavailable"
    default_message = "The gateway cannot reach its limit counters; retry shortly."


class ProviderError(GatewayError):
    status_code = 502
    code = "provider_error"
    default_message = "The provider failed to answer."


class UpstreamAuthFailed(ProviderError):
    code = "provider_auth_failed"
    default_message = "The provider rejected the gateway's credential."


class UpstreamMalformed(ProviderError):
    code = "provider_malformed_response"
    default_message = "The provider sent a response the gateway could not read."


class UpstreamTimeout(ProviderError):
    status_code = 504
    code = "provider_timeout"
    default_message = "The provider did not answer in time."


class ProviderDisconnected(ProviderError):
    code = "provider_disconnected"
    default_message = "The provider closed the connection."


class ProviderUnreachable(ProviderError):
    code = "provider_unreachable"
    default_message = "The provider could not be reached."


class StreamTruncated(ProviderError):
    code = "stream_truncated"
    default_message = "The provider's stream ended before it finished."


class AllProvidersFailed(ProviderError):
    code = "all_providers_failed"
    default_message = "Every provider tried failed."


class ProviderOutOfCredit(ProviderError):
    code = "provider_out_of_credit"
    default_message = "The provider's account has no credit left."


class ProviderImageTooLarge(ProviderError):
    code = "provider_image_too_large"
    default_message = "The provider's image is too large."


class ProviderImageRefused(ProviderError):
    code = "provider_image_refused"
    default_message = "The provider's image URL points where the gateway does not fetch from."


class UpstreamResponseTooLarge(ProviderError):
    code = "provider_response_too_large"
    default_message = "The provider's answer is larger than the gateway accepts."


class LocalSpeechFailed(ProviderError):
    code = "local_speech_failed"
    default_message = "The local speech program failed."


class ProviderNotWorking(GatewayError):
    status_code = 503
    code = "provider_not_working"
    default_message = "The provider is not working."


class LocalSpeechUnavailable(ProviderNotWorking):
    code = "local_speech_unavailable"
    default_message = "The local speech program is not installed."


class ProviderBusy(ProviderNotWorking):
    code = "provider_busy"
    default_message = "The provider has too many requests in progress; retry shortly."


class LocalSpeechBusy(ProviderBusy):
    code = "local_speech_busy"
    default_message = "Every local speech process is busy; retry shortly."


class MediaStorageUnavailable(GatewayError):
    status_code = 503
    code = "media_storage_unavailable"
    default_message = "The gateway's media storage is unavailable; retry shortly."


class NotReady(GatewayError):
    status_code = 503
    code = "not_ready"
    default_message = "The gateway is not ready to serve requests."


def error_body(exc: GatewayError) -> dict[str, Any]:
    """The OpenAI `ErrorResponse` for an error."""
    return {"error": {"message": exc.message, "type": exc.type, "param": exc.param, "code": exc.code}}


def error_headers(exc: GatewayError) -> list[tuple[bytes, bytes]]:
    """ASGI response headers for an error (JSON, plus Retry-After when the error carries one)."""
    headers = [(b"content-type", b"application/json")]
    if exc.retry_after is not None:
        headers.append((b"retry-after", str(max(1, round(exc.retry_after))).encode()))
    return headers


def error_json(exc: GatewayError) -> bytes:
    """`error_body()` as JSON bytes."""
    return orjson.dumps(error_body(exc))
