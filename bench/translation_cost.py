"""CPU a Responses API request costs the gateway beyond a chat request: parsing and translating the
request, and rendering the answer (non-streaming) or the events (streaming), in process, no network.

    .venv/bin/python -m bench.translation_cost [--requests 5000]

The budget (issue 15) is 0.3 ms of CPU per request more than chat. Both sides run the same chat
validation; the Responses side adds its own checks, the translation and the rendering.
"""

from __future__ import annotations

import argparse
import copy
import os
import time

import orjson

REQUEST = {
    "model": "fake-model",
    "instructions": "You are a helpful assistant.",
    "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "What is the weather?"}]},
        {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": '{"echo": "weather"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ],
    "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}],
    "reasoning": {"effort": "low"},
}
CHAT = {
    "model": "fake-model",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"echo": "weather"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ],
    "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}],
}
COMPLETION = {
    "id": "chatcmpl-1",
    "created": 1,
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "It is sunny."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 20, "completion_tokens": 4, "total_tokens": 24},
}
CHUNKS = [{"choices": [{"index": 0, "delta": {"content": f"word{i} "}, "finish_reason": None}]} for i in range(20)] + [
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": COMPLETION["usage"]}
]


def chat_once(body: bytes, stream: bool) -> None:
    from completions.chat import ChatRequest, StreamShaper, shape_completion
    from completions.http.streaming import sse_event

    request = ChatRequest.parse(body)
    if not stream:
        orjson.dumps(shape_completion(copy.deepcopy(COMPLETION), model="m", provider="p", request=request))
        return
    shaper = StreamShaper(model="m", provider="p", request=request)
    for chunk in copy.deepcopy(CHUNKS):
        shaped = shaper.shape(chunk)
        if shaped is not None:
            sse_event(shaped)
    b"".join(sse_event(chunk) for chunk in shaper.closing_chunks())


def responses_once(body: bytes, stream: bool) -> None:
    from completions.inbound.responses import render
    from completions.inbound.responses.request import ResponsesRequest
    from completions.inbound.responses.streams import TranslatedStream

    request = ResponsesRequest.parse(body)
    request.translate()
    if not stream:
        orjson.dumps(render.from_completion(request, copy.deepcopy(COMPLETION), model="m", provider="p"))
        return
    renderer = TranslatedStream(request, model="m", provider="p")
    for chunk in copy.deepcopy(CHUNKS):
        renderer.piece(chunk)
    renderer.closing()


def cpu_us(run, body: bytes, stream: bool, count: int) -> float:
    for _ in range(200):
        run(body, stream)
    started = time.process_time()
    for _ in range(count):
        run(body, stream)
    return (time.process_time() - started) / count * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "g4fsite.settings")
    import django

    django.setup()
    chat_body, responses_body = orjson.dumps({**CHAT, "stream": False}), orjson.dumps(REQUEST)
    print("| | chat µs CPU/req | responses µs CPU/req | difference µs |")
    print("|---|---|---|---|")
    for stream in (False, True):
        chat = cpu_us(
            chat_once, orjson.dumps({**CHAT, "stream": stream}) if stream else chat_body, stream, args.requests
        )
        body = orjson.dumps({**REQUEST, "stream": True}) if stream else responses_body
        responses = cpu_us(responses_once, body, stream, args.requests)
        label = "streaming (20 chunks)" if stream else "non-streaming"
        print(f"| {label} | {chat:.1f} | {responses:.1f} | {responses - chat:+.1f} |")


if __name__ == "__main__":
    main()
