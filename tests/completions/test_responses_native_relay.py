"""A native provider's Responses events are relayed as the provider wrote them, framed as one SSE event each;
only the events that count for usage and failover are parsed."""

import asyncio

import orjson

from completions import errors
from completions.inbound.responses.request import ResponsesRequest
from completions.inbound.responses.streams import NativeStream
from completions.upstream.adapters.base import UpstreamTarget
from completions.upstream.adapters.openai import OpenAIAdapter
from tests.completions.adapter_harness import AdapterRun
from tests.completions.fake_transport import Reply, replying

TARGET = UpstreamTarget(provider="p", base_url="https://api.example.com/v1", upstream_model="m")


def _stream() -> NativeStream:
    request = ResponsesRequest.parse(orjson.dumps({"model": "m", "input": "hi", "stream": True}))
    return NativeStream(request, model="m", provider="p")


def _events(raw: bytes) -> list[tuple[str, dict]]:
    events = []
    for block in raw.decode().split("\n\n"):
        if block:
            lines = block.split("\n")
            assert lines[0].startswith("event: ") and all(line.startswith("data: ") for line in lines[1:]), block
            events.append((lines[0][7:], orjson.loads("\n".join(line[6:] for line in lines[1:]))))
    return events


def test_an_event_is_relayed_byte_for_byte():
    data = '{"type":"response.output_text.delta","sequence_number":3,"delta":"h\\u00e9","extra":{"kept":true}}'
    event = orjson.loads(data)
    assert _stream().piece((event, data)) == b"event: response.output_text.delta\ndata: " + data.encode() + b"\n\n"


def test_an_event_written_over_several_lines_goes_out_on_one_data_line():
    data = '{"type": "response.output_text.delta",\n "sequence_number": 3,\n "delta": "hi"}'
    event = orjson.loads(data)
    raw = _stream().piece((event, data))
    assert raw.count(b"\ndata: ") == 1
    assert _events(raw) == [("response.output_text.delta", event)]


def test_the_adapter_reads_only_what_counts_and_relays_deltas_unread():
    created = {"type": "response.created", "sequence_number": 0, "response": {"id": "r", "output": []}}
    delta = '{"type":"response.output_text.delta","sequence_number":1,"delta":"hi"}'
    completed = {"type": "response.completed", "sequence_number": 2, "response": {"id": "r", "output": [], "usage": {}}}
    stream = (
        b"event: response.created\ndata: " + orjson.dumps(created) + b"\n\n"
        b"event: response.output_text.delta\ndata: " + delta.encode() + b"\n\n"
        b"event: response.completed\ndata: " + orjson.dumps(completed) + b"\n\n"
    )
    upstream = AdapterRun(OpenAIAdapter, TARGET, replying(Reply(200, chunks=[stream])))

    async def events():
        return [sent async for sent in OpenAIAdapter(upstream.transport).responses_stream(TARGET, {"stream": True})]

    got = asyncio.run(events())
    assert got == [
        (created, orjson.dumps(created).decode()),
        ({"type": "response.output_text.delta"}, delta),  # its type from the `event:` line, its text as sent
        (completed, orjson.dumps(completed).decode()),
    ]


def test_a_failure_after_unread_deltas_is_numbered_after_the_last_event_relayed():
    stream = _stream()
    stream.piece(({"type": "response.created", "response": {"id": "r"}}, '{"type":"response.created"}'))
    stream.piece(({"type": "response.output_text.delta"}, '{"type":"response.output_text.delta","sequence_number":7}'))
    [(kind, failed)] = _events(stream.failed(errors.StreamTruncated("cut")))
    assert kind == "response.failed" and failed["sequence_number"] == 8
    assert failed["response"]["status"] == "failed" and failed["response"]["id"] == "r"
