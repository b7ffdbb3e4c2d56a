"""The translated Responses stream writes its most frequent events from templates (`TranslatedStream`):
their bytes are exactly what serialising each event object would give."""

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from completions.inbound.responses.request import ResponsesRequest
from completions.inbound.responses.streams import TranslatedStream, event_bytes


def translated() -> TranslatedStream:
    request = ResponsesRequest.parse(orjson.dumps({"model": "m", "input": "hi", "stream": True}))
    return TranslatedStream(request, model="m", provider="p")


def blocks(raw: bytes) -> list[bytes]:
    return [block + b"\n\n" for block in raw.split(b"\n\n") if block]


@settings(max_examples=200)
@given(st.lists(st.text(min_size=1), min_size=1, max_size=4))
def test_the_opening_and_text_deltas_are_the_events_serialised(texts):
    stream = translated()
    first = stream.piece({"choices": [{"index": 0, "delta": {"role": "assistant", "content": texts[0]}}]})
    rest = [stream.piece({"choices": [{"index": 0, "delta": {"content": text}}]}) for text in texts[1:]]
    opened = stream.snapshot("in_progress") | {"output": []}  # as it was when the stream opened
    message = {"id": stream.message["id"], "output_index": stream.message_index}
    expected = [
        event_bytes({"type": "response.created", "sequence_number": 0, "response": opened}),
        event_bytes({"type": "response.in_progress", "sequence_number": 1, "response": opened}),
    ]
    sequence = 4  # after output_item.added and content_part.added
    for text in texts:
        delta = {"type": "response.output_text.delta", "sequence_number": sequence, "item_id": message["id"]}
        delta |= {"output_index": message["output_index"], "content_index": 0, "delta": text, "logprobs": []}
        expected.append(event_bytes(delta))
        sequence += 1
    got = blocks(first) + [block for piece in rest for block in blocks(piece)]
    assert got[:2] == expected[:2]
    assert got[4:] == expected[2:]
