"""Responses API streams: chat chunks translated into Responses events, and a native provider's events
relayed. Both end with `response.completed` / `response.incomplete`, or `response.failed` when the
stream breaks off after its first byte (Codex ignores `event: error`, so a failure is never that)."""

import time
from typing import Any

import orjson

from completions import errors
from completions.inbound.responses import render
from completions.inbound.responses.request import ResponsesRequest, new_id
from completions.usage import usage_estimate

FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def event_bytes(event: dict[str, Any]) -> bytes:
    """One SSE event as OpenAI frames it: `event: <type>` and the object, which carries `type` too."""
    return b"event: " + str(event.get("type")).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


_TEXT_DELTA = b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":'
_TEXT_DELTA_END = b',"logprobs":[]}\n\n'
_TEXT_ONLY = frozenset({"content", "role"})  # a chat delta that only adds text (`TranslatedStream.piece`)


class TranslatedStream:
    """Chat completion chunks (first choice) as Responses events: a message item for the text, a
    function_call item per tool call, each opened, filled by deltas and closed in OpenAI's order."""

    def __init__(self, request: ResponsesRequest, *, model: str, provider: str) -> None:
        self.request = request
        self.model = model
        self.provider = provider
        self.id = new_id("resp")
        self.created_at = int(time.time())
        self.sequence = 0
        self.started = False
        self.output: list[dict[str, Any]] = []
        self.message: dict[str, Any] | None = None  # the open message item
        self.message_index = 0
        self.delta_place = b""  # the open message's part of its text deltas (`_text`)
        self.reasoning: tuple[int, dict[str, Any]] | None = None  # the open reasoning item and its index
        self.thought: list[str] = []  # the open reasoning item's summary text
        self.text: list[str] = []  # the open message's text
        self.calls: dict[int, tuple[int, dict[str, Any]]] = {}  # open calls: chat index -> (output index, item)
        self.spent: list[str] = []  # all text and arguments, for a usage estimate
        self.usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        self.response: dict[str, Any] | None = None  # the final Response, once closed

    def _event(self, out: list[bytes], kind: str, **fields: Any) -> None:
        out.append(event_bytes({"type": kind, "sequence_number": self.sequence, **fields}))
        self.sequence += 1

    def snapshot(self, status: str, **fields: Any) -> dict[str, Any]:
        return render.response_object(
            self.request,
            response_id=self.id,
            created_at=self.created_at,
            model=self.model,
            provider=self.provider,
            status=status,
            output=self.output,
            **fields,
        )

    def piece(self, chunk: dict[str, Any]) -> bytes | None:
        """The events for one chat chunk (the first also opens the response), or None."""
        if self.message is not None and "usage" not in chunk:
            # Most chunks: more text for the open message, one text delta event.
            choices = chunk.get("choices")
            if type(choices) is list and len(choices) == 1:
                choice = choices[0]
                if type(choice) is dict and not choice.get("finish_reason") and choice.get("index", 0) == 0:
                    delta = choice.get("delta")
                    if type(delta) is dict and delta.keys() <= _TEXT_ONLY:
                        text = delta.get("content")
                        return self._text_delta(text) if text else None
        out: list[bytes] = []
        if not self.started:
            self.started = True
            opened = orjson.dumps(self.snapshot("in_progress"))  # once for both events
            for kind in ("response.created", "response.in_progress"):
                event = b'{"type":"%s","sequence_number":%d,"response":' % (kind.encode(), self.sequence)
                out.append(b"event: " + kind.encode() + b"\ndata: " + event + opened + b"}\n\n")
                self.sequence += 1
        usage = chunk.get("usage")
        if usage and render.valid_chat_usage(usage):
            self.usage = usage
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                self._reasoning(out, delta["reasoning_content"])
            if delta.get("content"):
                self._text(out, delta["content"])
            for call in delta.get("tool_calls") or ():
                if isinstance(call, dict):
                    self._call(out, call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return (out[0] if len(out) == 1 else b"".join(out)) if out else None

    def _reasoning(self, out: list[bytes], text: str) -> None:
        """A chat `reasoning_content` delta, as a reasoning item's one summary part."""
        if self.reasoning is None:
            item = {"id": new_id("rs"), "type": "reasoning", "summary": []}
            self.reasoning = (len(self.output), item)
            self.output.append(item)
            self._event(out, "response.output_item.added", output_index=self.reasoning[0], item=item)
            part = {"type": "summary_text", "text": ""}
            self._event(out, "response.reasoning_summary_part.added", **self._summary_place(), part=part)
        self.thought.append(text)
        self._event(out, "response.reasoning_summary_text.delta", **self._summary_place(), delta=text)

    def _summary_place(self) -> dict[str, Any]:
        return {"item_id": self.reasoning[1]["id"], "output_index": self.reasoning[0], "summary_index": 0}

    def _close_reasoning(self, out: list[bytes]) -> None:
        if self.reasoning is None:
            return
        place, item, text = self._summary_place(), self.reasoning[1], "".join(self.thought)
        part = {"type": "summary_text", "text": text}
        item["summary"] = [part]
        self._event(out, "response.reasoning_summary_text.done", **place, text=text)
        self._event(out, "response.reasoning_summary_part.done", **place, part=part)
        self._event(out, "response.output_item.done", output_index=place["output_index"], item=item)
        self.reasoning, self.thought = None, []

    def _text(self, out: list[bytes], text: str) -> None:
        if self.message is None:
            self._close_reasoning(out)
            self._open_message(out)
        out.append(self._text_delta(text))

    def _text_delta(self, text: str) -> bytes:
        """The open message's text delta event. The most frequent event, written from the message's
        template: what orjson would write for {"type", "sequence_number", "item_id", "output_index",
        "content_index", "delta", "logprobs"}."""
        self.text.append(text)
        self.spent.append(text)
        event = b"%b%d%b%b%b" % (_TEXT_DELTA, self.sequence, self.delta_place, orjson.dumps(text), _TEXT_DELTA_END)
        self.sequence += 1
        return event

    def _open_message(self, out: list[bytes]) -> None:
        self.message = render.message_item("", status="in_progress")
        self.message["content"] = []
        self.message_index = len(self.output)
        self.output.append(self.message)
        self.delta_place = b',"item_id":%b,"output_index":%d,"content_index":0,"delta":' % (
            orjson.dumps(self.message["id"]),
            self.message_index,
        )
        self._event(out, "response.output_item.added", output_index=self.message_index, item=self.message)
        self._event(out, "response.content_part.added", **self._message_place(), part=render.output_text(""))

    def _message_place(self) -> dict[str, Any]:
        return {"item_id": self.message["id"], "output_index": self.message_index, "content_index": 0}

    def _call(self, out: list[bytes], call: dict[str, Any]) -> None:
        index = call.get("index", 0)
        function = call.get("function") or {}
        opened = self.calls.get(index)
        if opened is None:
            self._close_reasoning(out)
            self._close_message(out, "completed")
            item = render.function_call_item(
                str(call.get("id") or new_id("call")), str(function.get("name") or ""), "", status="in_progress"
            )
            self.output.append(item)
            opened = self.calls[index] = (len(self.output) - 1, item)
            self._event(out, "response.output_item.added", output_index=opened[0], item=item)
        output_index, item = opened
        if function.get("name") and not item["name"]:
            item["name"] = function["name"]
        arguments = function.get("arguments")
        if arguments:
            item["arguments"] += arguments
            self.spent.append(arguments)
            self._event(
                out,
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=output_index,
                delta=arguments,
            )

    def _close_message(self, out: list[bytes], status: str) -> None:
        if self.message is None:
            return
        message, text = self.message, "".join(self.text)
        part = render.output_text(text)
        message["content"], message["status"] = [part], status
        place = self._message_place()
        self._event(out, "response.output_text.done", **place, text=text, logprobs=[])
        self._event(out, "response.content_part.done", **place, part=part)
        self._event(out, "response.output_item.done", output_index=place["output_index"], item=message)
        self.message, self.text = None, []

    def _close_items(self, out: list[bytes], status: str) -> None:
        self._close_reasoning(out)
        self._close_message(out, status)
        for output_index, item in self.calls.values():
            item["status"] = status
            self._event(
                out,
                "response.function_call_arguments.done",
                item_id=item["id"],
                name=item["name"],
                output_index=output_index,
                arguments=item["arguments"],
            )
            self._event(out, "response.output_item.done", output_index=output_index, item=item)
        self.calls = {}

    def usage_totals(self) -> dict[str, Any]:
        """Chat usage so far: the upstream's, else an estimate."""
        return self.usage or usage_estimate(self.request.chat.prompt_text, "".join(self.spent))

    def closing(self) -> bytes:
        """Close the open items and finish the response; raises StreamTruncated if the upstream never
        said it had finished."""
        if self.finish_reason is None:
            raise errors.StreamTruncated("The provider's stream ended before it finished.")
        reason = render.INCOMPLETE_REASONS.get(self.finish_reason)
        status = "incomplete" if reason else "completed"
        out: list[bytes] = []
        if not self.output:  # an answer with nothing in it is still one (empty) message
            self._open_message(out)
        self._close_items(out, status)
        self.response = self.snapshot(
            status, usage=render.response_usage(self.usage_totals()), incomplete_reason=reason
        )
        self._event(out, f"response.{status}", response=self.response)
        return b"".join(out)

    def failed(self, exc: errors.GatewayError) -> bytes:
        """The `response.failed` event for a stream broken off by `exc`; what arrived stays as output."""
        for item in self.output:
            if item.get("status") == "in_progress":
                item["status"] = "incomplete"
        if self.message is not None:
            self.message["content"] = [render.output_text("".join(self.text))]
        if self.reasoning is not None:
            self.reasoning[1]["summary"] = [{"type": "summary_text", "text": "".join(self.thought)}]
        response = self.snapshot("failed", usage=render.response_usage(self.usage_totals()), error=render.error_of(exc))
        out: list[bytes] = []
        self._event(out, "response.failed", response=response)
        return b"".join(out)


class NativeStream:
    """A native provider's Responses events relayed as they come; its final response is kept for the
    usage row and the store. A `response.failed` from the provider is held until the stream ends, so
    that the failure counts against the provider."""

    def __init__(self, request: ResponsesRequest, *, model: str, provider: str) -> None:
        self.request = request
        self.model = model
        self.provider = provider
        self.last_data = ""  # the last event relayed, as the provider wrote it
        self.latest: dict[str, Any] | None = None  # the last Response the provider sent
        self.response: dict[str, Any] | None = None  # the final Response (completed or incomplete)
        self.failure: dict[str, Any] | None = None  # the provider's response.failed event

    def piece(self, sent: tuple[dict[str, Any], str]) -> bytes | None:
        """The bytes for one provider event (`responses_stream`'s pair: the event, or only its type for
        a delta, and its JSON text, relayed as it came unless it spans lines, which one `data:` line
        cannot carry)."""
        event, data = sent
        kind = event["type"]
        if "response" in event and isinstance(event["response"], dict):
            self.latest = event["response"]
        if kind == "response.failed":
            self.failure = event
            return None
        if kind in ("response.completed", "response.incomplete"):
            self.response = self.latest
        self.last_data = data
        if "\n" in data or "\r" in data:
            return event_bytes(event)
        return b"event: " + kind.encode() + b"\ndata: " + data.encode() + b"\n\n"

    @property
    def sequence(self) -> int:
        """The sequence number after the last event relayed (read from its text only when needed)."""
        try:
            number = orjson.loads(self.last_data).get("sequence_number") if self.last_data else None
        except (orjson.JSONDecodeError, AttributeError):
            number = None
        return number + 1 if isinstance(number, int) else 0

    def closing(self) -> bytes:
        if self.failure is not None:
            error = (self.failure.get("response") or {}).get("error") or {}
            raise errors.ProviderError(f"The provider's response failed: {error.get('message') or 'no reason given'}")
        if self.response is None:
            raise errors.StreamTruncated("The provider's stream ended before it finished.")
        return b""

    def usage_totals(self) -> dict[str, int]:
        return render.chat_usage((self.response or self.latest or {}).get("usage"))

    def failed(self, exc: errors.GatewayError) -> bytes:
        if self.failure is not None:
            return event_bytes(self.failure)
        response = self.latest or render.response_object(
            self.request,
            response_id=new_id("resp"),
            created_at=int(time.time()),
            model=self.model,
            provider=self.provider,
            status="failed",
            output=[],
        )
        failed = {**response, "status": "failed", "error": render.error_of(exc)}
        return event_bytes({"type": "response.failed", "sequence_number": self.sequence, "response": failed})
