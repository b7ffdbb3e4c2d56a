"""`common_request_fields`, chat's validation without DRF for the commonest request shape, gives exactly
what `ChatCompletionRequestSerializer` gives, or leaves the request to it."""

from hypothesis import event, given, settings
from hypothesis import strategies as st

from completions.serializers import ChatCompletionRequestSerializer, common_request_fields

texts = st.text(max_size=30) | st.sampled_from(["gpt-4o", " gpt-4o", "gpt-4o ", "x" * 201, "a\x00b", "é", ""])
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts
parts = st.fixed_dictionaries({"type": st.just("text"), "text": texts}) | st.fixed_dictionaries(
    {"type": st.just("image_url"), "image_url": texts | st.fixed_dictionaries({"url": texts})}
)
messages = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "developer", "tool"]), "content": texts | st.lists(parts)},
    optional={"name": texts, "tool_call_id": texts},
)


@st.composite
def bodies(draw):
    """A well-formed request of the common shape, then (most of the time) one thing changed."""
    body: dict = {"messages": draw(st.lists(messages, min_size=1, max_size=4))}
    if draw(st.booleans()):
        body["model"] = draw(st.sampled_from(["gpt-4o", "fake-model", "a" * 200]) | texts)
    if draw(st.booleans()):
        body["stream"] = draw(st.booleans())
    change = draw(st.sampled_from(["none", "field", "message", "extra"]))
    if change == "field":
        body[draw(st.sampled_from(["model", "messages", "stream"]))] = draw(scalars | st.lists(scalars, max_size=2))
    elif change == "message":
        message = draw(st.sampled_from(body["messages"]))
        message[draw(st.sampled_from(["role", "content", "name", "tool_call_id"]))] = draw(scalars)
    elif change == "extra":
        body[draw(st.sampled_from(["temperature", "n", "conversation_id"]))] = draw(scalars)
    return body


def _drf(raw):
    serializer = ChatCompletionRequestSerializer(data=raw)
    return dict(serializer.validated_data) if serializer.is_valid() else None


@settings(max_examples=600, deadline=None)
@given(bodies())
def test_the_shortcut_agrees_with_drf_whenever_it_answers(raw):
    shortcut = common_request_fields(raw)
    event("shortcut" if shortcut is not None else "drf")
    if shortcut is not None:
        assert shortcut == _drf(raw)


def test_the_usual_request_takes_the_shortcut():
    raw = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    assert common_request_fields(raw) == _drf(raw) == {**raw}
    image = {"role": "user", "content": [{"type": "image_url", "image_url": "https://example.com/a.png"}]}
    assert common_request_fields({"messages": [image]}) == _drf({"messages": [image]})
