"""Hypothesis strategies for the endpoint fuzz test (`test_fuzz_endpoints.py`): JSON of any shape and
depth, requests whose known fields take odd values, multipart bodies, odd path segments and headers.

Every URL a strategy makes points at loopback or is a data: URL, so no request leaves the machine
(Gemini fetches http(s) image URLs itself, through `safe_fetch`, which refuses loopback at once).
"""

import json
import string
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from tests.api.protocol_helpers import PNG

MODELS = ["fake-model", "claude-fake", "gemini-fake", "fake-image", "tts-fake", "whisper-1"]
ROLES = ["system", "developer", "user", "assistant", "tool", "function"]
PART_TYPES = ["text", "image_url", "input_audio", "file", "refusal"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def nested(depth: int) -> Any:
    """A list nested `depth` levels deep."""
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


deep_values = st.integers(min_value=1, max_value=300).map(nested)
odd_values = json_values | deep_values | st.sampled_from(["²x²", "٣٠٠", "1e30", "NaN", "\x00", "🙂" * 3, "-1", ""])


def known_or_odd(*known: Any) -> st.SearchStrategy:
    """One of `known`, or an odd JSON value."""
    return st.sampled_from(known) | odd_values if known else odd_values


image_urls = st.sampled_from(
    [
        f"data:image/png;base64,{PNG}",
        "data:image/png;base64,!!notbase64",
        "data:,",
        "http://127.0.0.1:1/x.png",
        "https://[::1]/x.png",
        "ftp://127.0.0.1/x",
        "javascript:alert(1)",
    ]
)
content_parts = st.fixed_dictionaries(
    {"type": known_or_odd(*PART_TYPES)},
    optional={
        "text": known_or_odd("hello"),
        "refusal": known_or_odd("no"),
        "image_url": st.fixed_dictionaries({"url": image_urls}) | image_urls | odd_values,
        "input_audio": st.fixed_dictionaries({"data": known_or_odd("UklGRg=="), "format": known_or_odd("wav", "mp3")})
        | odd_values,
        "file": st.fixed_dictionaries({"file_data": known_or_odd(f"data:application/pdf;base64,{PNG}")}) | odd_values,
    },
)
tool_calls = st.lists(
    st.fixed_dictionaries(
        {"id": known_or_odd("call_1"), "type": known_or_odd("function")},
        optional={"function": st.fixed_dictionaries({"name": known_or_odd("f"), "arguments": known_or_odd("{}")})},
    )
    | odd_values,
    max_size=2,
)
messages = st.fixed_dictionaries(
    {"role": known_or_odd(*ROLES)},
    optional={
        "content": st.text(max_size=20) | st.lists(content_parts, max_size=3) | odd_values,
        "name": known_or_odd("bob"),
        "tool_calls": tool_calls | odd_values,
        "tool_call_id": known_or_odd("call_1"),
        "function_call": st.fixed_dictionaries({"name": known_or_odd("f"), "arguments": known_or_odd("{}")}),
        "extra": odd_values,
    },
)
SCHEMA_KEYWORDS = ["type", "properties", "items", "definitions", "$defs", "$ref", "enum", "anyOf", "const", "required"]
schemas = st.recursive(
    st.fixed_dictionaries({}, optional={key: odd_values for key in SCHEMA_KEYWORDS}),
    lambda children: st.fixed_dictionaries(
        {}, optional={"properties": st.dictionaries(st.text(max_size=4), children, max_size=2), "items": children}
    ),
    max_leaves=4,
)
json_schema_formats = st.fixed_dictionaries(
    {"type": st.just("json_schema"), "json_schema": st.fixed_dictionaries({"name": st.just("x"), "schema": schemas})}
)
tools = st.lists(
    st.fixed_dictionaries(
        {"type": known_or_odd("function")},
        optional={
            "function": st.fixed_dictionaries(
                {"name": known_or_odd("f")}, optional={"parameters": schemas | odd_values}
            )
        },
    )
    | odd_values,
    max_size=2,
)

chat_bodies = st.fixed_dictionaries(
    {"messages": st.lists(messages, min_size=1, max_size=4) | odd_values},
    optional={
        "model": known_or_odd(*MODELS),
        "stream": known_or_odd(True, False),
        "max_tokens": known_or_odd(1, 5, 100),
        "temperature": known_or_odd(0, 0.5, 2),
        "top_p": known_or_odd(0.5),
        "n": known_or_odd(1, 2),
        "stop": known_or_odd("END", ["a", "b"]),
        "seed": known_or_odd(7),
        "user": known_or_odd("u"),
        "response_format": known_or_odd({"type": "json_object"}) | json_schema_formats,
        "tools": tools | odd_values,
        "tool_choice": known_or_odd("auto", "none", "required", {"type": "function", "function": {"name": "f"}}),
        "stream_options": known_or_odd({"include_usage": True}),
        "provider": known_or_odd("alpha", "nope"),
        "conversation_id": known_or_odd("conv-1", "../x", "a" * 65),
        "proxy": known_or_odd("http://127.0.0.1:1"),
        "metadata": odd_values,
    },
)
image_bodies = st.fixed_dictionaries(
    {"prompt": known_or_odd("a red square")},
    optional={
        "model": known_or_odd(*MODELS),
        "n": known_or_odd(1, 2, 5),
        "size": known_or_odd("auto", "512x512", "²x²", "1024x", "99999x99999"),
        "response_format": known_or_odd("url", "b64_json"),
        "provider": known_or_odd("pix"),
        "quality": odd_values,
        "style": odd_values,
    },
)
speech_bodies = st.fixed_dictionaries(
    {"input": known_or_odd("hello")},
    optional={
        "model": known_or_odd(*MODELS),
        "voice": known_or_odd("alloy"),
        "response_format": known_or_odd("mp3", "wav", {}, []),
        "speed": known_or_odd(0.25, 1, 4, 10**30),
        "instructions": odd_values,
        "provider": known_or_odd("voice"),
    },
)


def json_body(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """Bytes of a JSON body: mostly drawn from `strategy`, else any JSON value, or raw bytes."""
    structured = strategy.map(lambda value: json.dumps(value).encode())
    return st.one_of(structured, structured, structured, json_values.map(lambda v: json.dumps(v).encode()), st.binary())


# --- multipart ---------------------------------------------------------------------------------------

BOUNDARY = "fuzzboundary"
header_text = st.text(alphabet=string.ascii_letters + string.digits + " ./;=_-\"'", max_size=20)
cookie_files = st.one_of(
    st.lists(
        st.fixed_dictionaries(
            {
                "domain": known_or_odd("example.com", ".127.0.0.1"),
                "name": known_or_odd("sid"),
                "value": known_or_odd("v"),
                "expirationDate": known_or_odd(1e30, 2e9, "nan", -5, "9999-12-31T23:59:59-14:00"),
            },
            optional={"path": known_or_odd("/"), "secure": odd_values},
        ),
        max_size=3,
    ).map(lambda value: json.dumps(value).encode()),
    st.builds(
        lambda fields: "\t".join(fields).encode(),
        st.lists(st.sampled_from([".example.com", "TRUE", "/", "FALSE", "9" * 20, "²", "sid", "v", ""]), max_size=8),
    ),
    st.binary(max_size=60),
)
file_names = st.none() | st.sampled_from(["a.wav", "cookies.json", "x.txt", "", "../../etc/passwd", "é.mp3"])
file_types = st.sampled_from(["audio/wav", "application/json", "text/plain", "", "audio/"])
audio_parts = st.lists(
    st.tuples(
        st.sampled_from(["file", "model", "response_format", "temperature", "language", "prompt", "x"]) | header_text,
        file_names,
        file_types,
        st.sampled_from([b"RIFF0000WAVE", b"", b"json", b"verbose_json", b"srt", b"2", b"nan", b"1e400", b"whisper-1"])
        | st.binary(max_size=20),
    ),
    max_size=4,
)
cookie_parts = st.lists(
    st.tuples(st.sampled_from(["files", "files[]", "file"]) | header_text, file_names, file_types, cookie_files),
    max_size=3,
)


def multipart(parts: list[tuple[str, str | None, str, bytes]]) -> bytes:
    """A multipart/form-data body with `BOUNDARY` for (field, filename, content type, data) parts."""
    body = b""
    for name, filename, content_type, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        if content_type:
            body += f"Content-Type: {content_type}\r\n".encode()
        body += b"\r\n" + data + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


audio_forms = st.one_of(audio_parts.map(multipart), audio_parts.map(multipart), st.binary(max_size=80))
cookie_forms = st.one_of(cookie_parts.map(multipart), cookie_parts.map(multipart), st.binary(max_size=80))
multipart_types = st.sampled_from(
    [
        *[f"multipart/form-data; boundary={BOUNDARY}"] * 4,
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "application/json",
    ]
)

# --- paths, methods, headers -------------------------------------------------------------------------

odd_segments = st.one_of(
    st.text(max_size=12).map(lambda text: quote(text, safe="")),
    st.sampled_from(["..", ".", "%2e%2e", "%00", "%ff", "%2F", "~", ";x", "@", "a" * 300, "%", "%zz", "fake-model"]),
    st.sampled_from(["%2e%2e/%2e%2e/manage.py", "..%2f..%2fmanage.py", "%2e%2e/%2e%2e/%2e%2e/etc/passwd"]),
)
# Methods the HTTP server parses (it refuses others itself, before the gateway sees them).
methods = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "PROPFIND", "PURGE"])
header_names = st.sampled_from(
    ["content-type", "authorization", "g4f-api-key", "origin", "accept", "x-forwarded-for", "range", "cookie"]
) | st.text(alphabet=string.ascii_lowercase + "-", min_size=1, max_size=12)
odd_headers = st.dictionaries(header_names, header_text, max_size=4)
