"""`StreamShaper.shape`'s shortcut for the commonest chunk (one choice, not finishing, no usage) gives
exactly what its general path gives: the same chunk out, the same text counted, the same choices
started and finishes held."""

import copy

from hypothesis import event, given, settings
from hypothesis import strategies as st

from completions.chat import ChatRequest, StreamShaper

texts = st.text(max_size=12)
scalars = st.none() | st.booleans() | st.integers(min_value=-2, max_value=3) | texts
calls = st.fixed_dictionaries(
    {"index": st.integers(0, 2)}, optional={"function": st.fixed_dictionaries({}, optional={"arguments": texts})}
)
deltas = st.none() | st.fixed_dictionaries(
    {}, optional={"role": st.just("assistant"), "content": st.none() | texts, "tool_calls": st.lists(calls, max_size=2)}
)
choices = st.fixed_dictionaries(
    {"delta": deltas},
    optional={"index": st.integers(0, 2), "finish_reason": st.none() | st.sampled_from(["", "stop", "length"])},
)
usages = st.none() | st.fixed_dictionaries({"prompt_tokens": st.integers(0, 9), "completion_tokens": st.integers(0, 9)})


@st.composite
def chunks(draw):
    chunk = {"id": "up-1", "object": "chat.completion.chunk", "created": 1, "model": "up"}
    chunk["choices"] = draw(st.lists(choices, min_size=1, max_size=1) | st.lists(choices, max_size=3) | scalars)
    if draw(st.booleans()):
        chunk["usage"] = draw(usages)
    if draw(st.booleans()):
        chunk["system_fingerprint"] = draw(texts)
    return chunk


def shaper() -> StreamShaper:
    request = ChatRequest.parse(b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}')
    return StreamShaper(model="m", provider="P", request=request)


@settings(max_examples=400)
@given(st.lists(chunks(), min_size=1, max_size=4))
def test_the_shortcut_gives_what_the_general_path_gives(stream):
    fast, general = shaper(), shaper()
    general.id, general.created = fast.id, fast.created
    for chunk in stream:
        try:
            expected = general._shape_any(copy.deepcopy(chunk))
        except (AttributeError, TypeError):
            continue  # a chunk the adapter refuses before shaping (`_chunk_finishes`)
        got = fast.shape(copy.deepcopy(chunk))
        event(
            "shortcut"
            if "usage" not in chunk and isinstance(chunk["choices"], list) and len(chunk["choices"]) == 1
            else "general"
        )
        assert got == expected
        assert list(got or ()) == list(expected or ())  # the same keys in the same order
        assert (fast.text, fast.started, fast.finishes) == (general.text, general.started, general.finishes)
