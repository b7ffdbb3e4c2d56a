"""Validation of client requests (DRF serializers, also used by the async chat consumer)."""

import threading
from typing import Any

import orjson
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from completions import errors

MESSAGE_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
CONTENT_PART_TYPES = {"text", "image_url", "input_audio", "file", "refusal"}
# Fields the gateway consumes itself; they are never sent upstream.
GATEWAY_FIELDS = ("provider", "conversation_id", "proxy", "api_key")
# OpenAI's `ReasoningEffort`; adapters that take a thinking budget map it (upstream/adapters/reasoning.py).
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
# Conversation ids (`conversation_id`, and the URL's in /api/{provider}/{conversation_id}/chat/completions).
CONVERSATION_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}\Z"
# JSON bodies nest at most this deep (the body object is level 1): the encoder that sends a request
# upstream stops at 255 levels, and no OpenAI request needs more than a few dozen.
MAX_JSON_DEPTH = 64
_CONTAINERS = (dict, list)


def json_object(body: bytes) -> dict[str, Any]:
    """A request body parsed as a JSON object; InvalidJSON (400) when it is not one, and
    NestingTooDeep (400 naming the field) when a field nests deeper than `MAX_JSON_DEPTH`."""
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise errors.InvalidJSON(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise errors.InvalidJSON("The request body must be a JSON object.")
    # A body with no more opening brackets than the limit cannot nest deeper (brackets inside strings
    # only raise the count): most chat requests skip the walk.
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH:
        for name, value in raw.items():
            if type(value) in _CONTAINERS and nesting_exceeds(value, MAX_JSON_DEPTH - 1):
                raise errors.NestingTooDeep(
                    f"Invalid value for '{name}': nested deeper than {MAX_JSON_DEPTH} levels.", param=name
                )
    return raw


def nesting_exceeds(value: dict | list, limit: int) -> bool:
    """Whether the JSON container `value` (level 1) holds containers deeper than `limit` levels.
    Walks containers level by level, without recursion."""
    level = [value]
    for _depth in range(limit):
        deeper = []
        for node in level:
            for child in node.values() if type(node) is dict else node:
                kind = type(child)
                if kind is dict or kind is list:
                    deeper.append(child)
        if not deeper:
            return False
        level = deeper
    return True


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "maxItems": 4}]})
def validation_error(detail: Any) -> errors.ValidationFailed:
    """A serializer's `errors` as one ValidationFailed (400) naming the first bad field."""
    param, message = _first_error(detail, path="")
    return errors.ValidationFailed(f"Invalid value for '{param}': {message}" if param else message, param=param or None)


def _first_error(detail: Any, path: str) -> tuple[str, str]:
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == "non_field_errors":
                return _first_error(value, path)
            sub = f"{path}.{key}" if path else str(key)
            if isinstance(value, (dict, list)) and value and not _is_message_list(value):
                return _first_error(value, sub)
            return sub, _message(value)
    if isinstance(detail, list):
        if _is_message_list(detail):
            return path, _message(detail)
        for index, value in enumerate(detail):
            if value:
                return _first_error(value, f"{path}[{index}]")
    return path, _message(detail)


def _is_message_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _message(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    return str(value)


class StopField(serializers.Field):
    """`stop`: a string or a list of up to 4 strings."""

    default_error_messages = {"invalid": "Must be a string or a list of at most 4 strings."}

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str):
            return data
        if isinstance(data, list) and len(data) <= 4 and all(isinstance(item, str) for item in data):
            return data
        self.fail("invalid")

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field(OpenApiTypes.ANY)
class AnyJSONField(serializers.Field):
    """A JSON value checked by the serializer's `validate_<field>` method."""

    def to_internal_value(self, data: Any) -> Any:
        return data

    def to_representation(self, value: Any) -> Any:
        return value


_bound_fields = threading.local()


class ChatCompletionRequestSerializer(serializers.Serializer):
    """`POST /v1/chat/completions`: OpenAI's request fields plus G4F's `provider` and `conversation_id`.

    Fields it does not know are passed upstream untouched (see `upstream_payload`).
    """

    model = serializers.CharField(max_length=200, required=False, allow_blank=True)
    messages = serializers.ListField(child=AnyJSONField(), min_length=1, max_length=10_000)
    stream = serializers.BooleanField(required=False, default=False)
    max_tokens = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    max_completion_tokens = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    temperature = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=2)
    top_p = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1)
    frequency_penalty = serializers.FloatField(required=False, allow_null=True, min_value=-2, max_value=2)
    presence_penalty = serializers.FloatField(required=False, allow_null=True, min_value=-2, max_value=2)
    stop = StopField(required=False, allow_null=True)
    n = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=10)
    seed = serializers.IntegerField(required=False, allow_null=True)
    user = serializers.CharField(required=False, allow_blank=True, max_length=256)
    response_format = AnyJSONField(required=False, allow_null=True)
    tools = serializers.ListField(child=AnyJSONField(), required=False, allow_null=True, max_length=128)
    tool_choice = AnyJSONField(required=False, allow_null=True)
    parallel_tool_calls = serializers.BooleanField(required=False, allow_null=True)
    stream_options = AnyJSONField(required=False, allow_null=True)
    reasoning_effort = serializers.ChoiceField(choices=REASONING_EFFORTS, required=False, allow_null=True)
    # Mapped by the translating adapters (docs/upstream-protocols.md); passed on as they are otherwise.
    top_k = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    logprobs = serializers.BooleanField(required=False, allow_null=True)
    top_logprobs = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=20)
    safety_settings = serializers.ListField(child=serializers.DictField(), required=False, allow_null=True)
    # One protocol's own parameters, merged into its upstream body and never sent to the others.
    anthropic = serializers.DictField(required=False, allow_null=True)
    gemini = serializers.DictField(required=False, allow_null=True)
    provider = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=100)
    conversation_id = serializers.RegexField(
        CONVERSATION_ID_PATTERN,
        required=False,
        allow_null=True,
        min_length=1,
        max_length=64,
        error_messages={"invalid": "Use 1 to 64 characters from A-Z, a-z, 0-9, '_' and '-'."},
    )
    proxy = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=500)

    @property
    def fields(self) -> serializers.BindingDict:
        """The bound fields, built once per thread instead of once per request: DRF deep-copies
        every declared field for each serializer instance, which was ~90% of validating a chat
        request. Bound fields keep no per-request state (their root is a data-less prototype)."""
        cache = _bound_fields.__dict__.setdefault("by_class", {})
        fields = cache.get(type(self))
        if fields is None:
            prototype = type(self)()
            fields = serializers.BindingDict(prototype)
            for name, field in prototype.get_fields().items():
                fields[name] = field
            cache[type(self)] = fields
        return fields

    @property
    def _writable_fields(self) -> list:
        """The fields DRF runs: those the request has, and those that are required or have a default.
        DRF would run every declared field and raise `SkipField` for each absent optional one; the
        result is the same, without twenty exceptions per request. Worked out once per instance (DRF
        asks several times)."""
        chosen = self.__dict__.get("_chosen_fields")
        if chosen is None:
            data = self.initial_data if isinstance(self.initial_data, dict) else {}
            chosen = self.__dict__["_chosen_fields"] = [
                field
                for name, field in self.fields.fields.items()
                if not field.read_only and (name in data or field.required or field.default is not serializers.empty)
            ]
        return chosen

    def _read_only_defaults(self) -> dict:
        """DRF collects read-only fields' defaults on every validation (14% of it); there are none here."""
        if any(field.read_only for field in self.fields.fields.values()):
            return super()._read_only_defaults()
        return {}

    def validate_messages(self, messages: list[Any]) -> list[Any]:
        for index, message in enumerate(messages):
            problem = _message_problem(message)
            if problem:
                raise serializers.ValidationError(f"messages[{index}]: {problem}")
        return [_with_image_url_objects(message) for message in messages]

    def validate_response_format(self, value: Any) -> Any:
        if value is None:
            return value
        if not isinstance(value, dict) or value.get("type") not in ("text", "json_object", "json_schema"):
            raise serializers.ValidationError("Must be an object with type 'text', 'json_object' or 'json_schema'.")
        if value["type"] == "json_schema" and not isinstance(value.get("json_schema"), dict):
            raise serializers.ValidationError("A 'json_schema' response format needs a 'json_schema' object.")
        return value

    def validate_tools(self, tools: list[Any] | None) -> list[Any] | None:
        for index, tool in enumerate(tools or ()):
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(function, dict):
                raise serializers.ValidationError(
                    f"tools[{index}] must be {{'type': 'function', 'function': {{...}}}}."
                )
            if not isinstance(function.get("name"), str) or not function["name"]:
                raise serializers.ValidationError(f"tools[{index}].function.name must be a non-empty string.")
            if "parameters" in function and not isinstance(function["parameters"], dict):
                raise serializers.ValidationError(f"tools[{index}].function.parameters must be an object.")
        return tools

    def validate_tool_choice(self, value: Any) -> Any:
        if value is None or value in ("none", "auto", "required"):
            return value
        if isinstance(value, dict) and value.get("type") == "function":
            function = value.get("function")
            if isinstance(function, dict) and isinstance(function.get("name"), str):
                return value
        raise serializers.ValidationError(
            "Must be 'none', 'auto', 'required' or {'type': 'function', 'function': {'name': ...}}."
        )

    def validate_stream_options(self, value: Any) -> Any:
        if value is None:
            return value
        if not isinstance(value, dict) or not isinstance(value.get("include_usage", False), bool):
            raise serializers.ValidationError("Must be an object like {'include_usage': true}.")
        return value


def _message_problem(message: Any) -> str | None:
    if not isinstance(message, dict):
        return "each message must be an object"
    role = message.get("role")
    if not isinstance(role, str) or role not in MESSAGE_ROLES:
        return f"role must be one of {', '.join(sorted(MESSAGE_ROLES))}"
    for name in ("name", "tool_call_id"):
        if message.get(name) is not None and not isinstance(message[name], str):
            return f"'{name}' must be a string"
    problem = _tool_calls_problem(message.get("tool_calls"), message.get("function_call"))
    if problem:
        return problem
    content = message.get("content")
    if content is None:
        if role == "assistant" and (message.get("tool_calls") or message.get("function_call")):
            return None
        return "content is required"
    if isinstance(content, str):
        return None
    if not isinstance(content, list):
        return "content must be a string or a list of content parts"
    for part in content:
        problem = _part_problem(part)
        if problem:
            return problem
    return None


def _with_image_url_objects(message: dict[str, Any]) -> dict[str, Any]:
    """The message with each `image_url` given as a bare string turned into OpenAI's `{"url": ...}`
    (a copy when anything changed), so no adapter meets the string form."""
    content = message.get("content")
    if not isinstance(content, list) or not any(
        isinstance(part, dict) and isinstance(part.get("image_url"), str) for part in content
    ):
        return message
    parts = [
        {**part, "image_url": {"url": part["image_url"]}}
        if isinstance(part, dict) and part.get("type") == "image_url" and isinstance(part.get("image_url"), str)
        else part
        for part in content
    ]
    return {**message, "content": parts}


def _part_problem(part: Any) -> str | None:
    """What is wrong with one content part, in OpenAI's shapes, or None."""
    kind = part.get("type") if isinstance(part, dict) else None
    if not isinstance(kind, str) or kind not in CONTENT_PART_TYPES:
        return f"content parts must be objects with type {', '.join(sorted(CONTENT_PART_TYPES))}"
    if kind in ("text", "refusal") and not isinstance(part.get(kind), str):
        return f"a {kind} part needs a '{kind}' string"
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str) or not url.startswith(("http://", "https://", "data:")):
            return "an image_url part needs an http(s) or data URL"
    elif kind == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, dict) or not all(isinstance(audio.get(key), str) for key in ("data", "format")):
            return "an input_audio part needs an 'input_audio' object with 'data' and 'format' strings"
    elif kind == "file":
        file = part.get("file")
        if not isinstance(file, dict) or any(not isinstance(value, str | None) for value in file.values()):
            return "a file part needs a 'file' object of strings ('file_data', 'file_id', 'filename')"
    return None


def _tool_calls_problem(tool_calls: Any, function_call: Any) -> str | None:
    """What is wrong with an assistant message's `tool_calls` / legacy `function_call`, or None."""
    if tool_calls is not None:
        if not isinstance(tool_calls, list):
            return "'tool_calls' must be a list"
        for call in tool_calls:
            if not isinstance(call, dict) or not _is_function_call(call.get("function")):
                return "each tool call needs a 'function' object with 'name' and 'arguments' strings"
            if any(call.get(key) is not None and not isinstance(call[key], str) for key in ("id", "type")):
                return "a tool call's 'id' and 'type' must be strings"
    if function_call is not None and not _is_function_call(function_call):
        return "'function_call' must be an object with 'name' and 'arguments' strings"
    return None


def _is_function_call(function: Any) -> bool:
    return (
        isinstance(function, dict)
        and isinstance(function.get("name"), str)
        and isinstance(function.get("arguments", ""), str)
    )


_COMMON_FIELDS = frozenset({"model", "messages", "stream"})


def common_request_fields(raw: dict[str, Any]) -> dict[str, Any] | None:
    """What `ChatCompletionRequestSerializer` validates a request of the commonest shape to (only
    `model`, `messages` and `stream`, each plainly valid), without DRF (about 100 µs per request);
    None for anything else, which DRF then validates (and words the errors of)."""
    if not raw.keys() <= _COMMON_FIELDS:
        return None
    valid: dict[str, Any] = {}
    if "model" in raw:
        model = raw["model"]  # CharField: trimmed, no NUL, no surrogate, at most 200 characters
        if type(model) is not str or len(model) > 200 or not model.isascii() or "\x00" in model:
            return None
        if model != model.strip():
            return None
        valid["model"] = model
    messages = raw.get("messages")
    if type(messages) is not list or not 1 <= len(messages) <= 10_000:
        return None
    for message in messages:
        if message is None or _message_problem(message):
            return None
    valid["messages"] = [_with_image_url_objects(message) for message in messages]
    stream = raw.get("stream", False)
    if type(stream) is not bool:
        return None
    valid["stream"] = stream
    return valid


def validated_chat_fields(raw: dict[str, Any]) -> dict[str, Any]:
    """A chat request's validated fields: `common_request_fields` when it answers, else DRF's
    `ChatCompletionRequestSerializer` (ValidationFailed with its first error)."""
    valid = common_request_fields(raw)
    if valid is None:
        serializer = ChatCompletionRequestSerializer(data=raw)
        if not serializer.is_valid():
            raise validation_error(serializer.errors)
        valid = serializer.validated_data
    return valid


def upstream_payload(raw: dict[str, Any], validated: dict[str, Any]) -> dict[str, Any]:
    """The request to send upstream: the client's fields (validated ones normalised), minus the
    gateway's own fields and values left unset."""
    payload = {key: value for key, value in raw.items() if key not in GATEWAY_FIELDS}
    for key, value in validated.items():
        if key not in GATEWAY_FIELDS:
            payload[key] = value
    return {key: value for key, value in payload.items() if value is not None}
