"""A native provider's Responses events are relayed as the provider wrote them, framed as one SSE event each."""

import orjson

from completions.inbound.responses.request import ResponsesRequest
from completions.inbound.responses.streams import NativeStream


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
