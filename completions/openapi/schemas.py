"""Response shapes for the OpenAPI document, as plain JSON Schema (OpenAPI 3.1 dialect)."""

from drf_spectacular.utils import OpenApiResponse

NULLABLE_STRING = {"type": ["string", "null"]}

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": NULLABLE_STRING,
                "code": NULLABLE_STRING,
            },
        }
    },
}


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ERROR, description=description)


ERRORS = {
    401: error("`invalid_api_key`: auth is on and the key is missing or wrong."),
    429: error("Rate limited; `Retry-After` says when to retry."),
}
ROUTED_ERRORS = {
    400: error("Bad JSON or a bad field; `param` names it."),
    **ERRORS,
    404: error("`model_not_found` or `provider_not_found`."),
    502: error("`provider_error`: every provider tried failed."),
    503: error("`provider_not_working`: no provider may serve the request now."),
}

STRINGS = {"type": "array", "items": {"type": "string"}}

MODEL = {
    "type": "object",
    "required": ["id", "object", "created", "owned_by", "provider"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "model"},
        "created": {"type": "integer"},
        "owned_by": {"type": "string"},
        "chat": {"type": "boolean"},
        "image": {"type": "boolean"},
        "vision": {"type": "boolean"},
        "audio": {"type": "boolean"},
        "provider": {"type": "boolean", "description": "The entry is a provider: used as a model, its default."},
        "providers": STRINGS,
        "aliases": STRINGS,
    },
}

PROVIDER_MODEL = {
    "type": "object",
    "required": ["id", "object", "owned_by"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "model"},
        "created": {"type": "integer"},
        "owned_by": {"type": "string"},
        "image": {"type": "boolean"},
        "vision": {"type": "boolean"},
        "upstream": {"type": "string", "description": "The name the provider knows the model by."},
    },
}

PROVIDER = {
    "type": "object",
    "required": ["provider", "models", "image_models", "vision_models", "url", "working", "auth"],
    "properties": {
        "provider": {"type": "string"},
        "id": {"type": "string"},
        "object": {"const": "provider"},
        "label": {"type": "string"},
        "models": STRINGS,
        "image_models": STRINGS,
        "vision_models": STRINGS,
        "audio_models": STRINGS,
        "url": NULLABLE_STRING,
        "working": {"type": "boolean"},
        "status": {"enum": ["working", "not_working", "needs_credential", "cooling_down"]},
        "status_reason": {"type": "string"},
        "auth": {"type": "boolean"},
    },
}
PROVIDER_DETAIL = {
    **PROVIDER,
    "properties": {
        **PROVIDER["properties"],
        "stream": {"type": "boolean"},
        "description": {"type": "string"},
        "params": STRINGS,
    },
}


def listing(item: dict) -> dict:
    """`{"object": "list", "data": [item, ...]}`."""
    return {
        "type": "object",
        "required": ["object", "data"],
        "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": item}},
    }


OBJECT = {"type": "object", "additionalProperties": True}

CONVERSATION = {
    "type": "object",
    "required": ["id", "object", "title", "created_at", "updated_at", "message_count"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "conversation"},
        "title": {"type": "string"},
        "model": {"type": "string"},
        "provider": {"type": "string"},
        "created_at": {"type": "integer"},
        "updated_at": {"type": "integer"},
        "message_count": {"type": "integer"},
    },
}
CONVERSATION_PAGE = {
    "type": "object",
    "required": ["object", "data", "has_more"],
    "properties": {
        "object": {"const": "list"},
        "data": {"type": "array", "items": CONVERSATION},
        "first_id": NULLABLE_STRING,
        "last_id": NULLABLE_STRING,
        "has_more": {"type": "boolean"},
    },
}
CONVERSATION_DETAIL = {
    "allOf": [CONVERSATION],
    "type": "object",
    "properties": {
        "messages": {"type": "array", "items": OBJECT},
        "first_id": NULLABLE_STRING,
        "last_id": NULLABLE_STRING,
        "has_more": {"type": "boolean"},
    },
}
CONVERSATION_DELETED = {
    "type": "object",
    "required": ["id", "object", "deleted"],
    "properties": {"id": {"type": "string"}, "object": {"const": "conversation.deleted"}, "deleted": {"const": True}},
}
