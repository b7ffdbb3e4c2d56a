"""Gemini `GenerateContentResponse` -> OpenAI `chat.completion` and `chat.completion.chunk`s (no I/O);
see `gemini.py` for the choices the translation makes."""

import time
import uuid
from typing import Any

import orjson

from completions import errors
from completions.upstream.adapters.reasoning import gemini_thoughts

FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length"} | dict.fromkeys(
    ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"), "content_filter"
)
# Finish reasons of an answer that failed: the client gets an error, not a truncated "stop".
FAILED_FINISH_REASONS = frozenset(
    {"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS", "MALFORMED_RESPONSE"}
)

# Response: Gemini GenerateContentResponse -> OpenAI chat.completion


def chat_completion(answer: dict[str, Any], *, model: str) -> dict[str, Any]:
    """The OpenAI `chat.completion` for a Gemini answer (a blocked prompt gives `content_filter`)."""
    choices = []
    for position, candidate in enumerate(answer.get("candidates") or ()):
        raise_for_failed_candidate(candidate)
        text, tool_calls = _candidate_output(candidate)
        content = text if text or not tool_calls else None
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        if reasoning := gemini_thoughts(candidate):
            message["reasoning_content"] = reasoning
        reason = "tool_calls" if tool_calls else finish_reason(candidate.get("finishReason"))
        index = candidate.get("index", position)
        logprobs = openai_logprobs(candidate.get("logprobsResult"))
        choices.append({"index": index, "message": message, "logprobs": logprobs, "finish_reason": reason})
    if not choices:
        message = {"role": "assistant", "content": "", "refusal": None}
        choices.append({"index": 0, "message": message, "logprobs": None, "finish_reason": "content_filter"})
    return {
        "id": _completion_id(answer),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": answer.get("modelVersion") or model,
        "choices": choices,
        "usage": usage(answer.get("usageMetadata") or {}),
    }


def _candidate_output(candidate: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    parts = (candidate.get("content") or {}).get("parts") or ()
    text = "".join(part.get("text", "") for part in parts if not part.get("thought"))
    tool_calls = [_tool_call(part["functionCall"]) for part in parts if part.get("functionCall")]
    return text, tool_calls


def _tool_call(call: dict[str, Any]) -> dict[str, Any]:
    function = {"name": call.get("name"), "arguments": orjson.dumps(call.get("args") or {}).decode()}
    return {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function", "function": function}


def _completion_id(answer: dict[str, Any]) -> str:
    return f"chatcmpl-{answer.get('responseId') or uuid.uuid4().hex}"


def raise_for_failed_candidate(candidate: dict[str, Any]) -> None:
    """Raise UpstreamMalformed for a candidate whose finish reason says the answer failed."""
    reason = candidate.get("finishReason")
    if reason in FAILED_FINISH_REASONS:
        detail = f": {candidate['finishMessage']}" if candidate.get("finishMessage") else ""
        raise errors.UpstreamMalformed(f"The model's answer failed (Gemini finish reason {reason}){detail}.")


def openai_logprobs(result: Any) -> dict[str, Any] | None:
    """Gemini's `logprobsResult` as OpenAI's choice `logprobs` (None when there is none)."""
    if not isinstance(result, dict) or not result.get("chosenCandidates"):
        return None
    tops = result.get("topCandidates") or []
    content = []
    for position, chosen in enumerate(result["chosenCandidates"]):
        alternatives = (tops[position].get("candidates") or []) if position < len(tops) else []
        entry = _token_logprob(chosen)
        entry["top_logprobs"] = [_token_logprob(alternative) for alternative in alternatives]
        content.append(entry)
    return {"content": content, "refusal": None}


def _token_logprob(candidate: dict[str, Any]) -> dict[str, Any]:
    token = str(candidate.get("token") or "")
    return {"token": token, "logprob": candidate.get("logProbability") or 0.0, "bytes": list(token.encode())}


def finish_reason(gemini_reason: str | None) -> str:
    return FINISH_REASONS.get(gemini_reason or "", "stop")


def usage(metadata: dict[str, Any]) -> dict[str, Any]:
    """OpenAI usage from `usageMetadata`: thinking tokens count as completion (reasoning) tokens."""
    prompt = (metadata.get("promptTokenCount") or 0) + (metadata.get("toolUsePromptTokenCount") or 0)
    thoughts = metadata.get("thoughtsTokenCount") or 0
    completion = (metadata.get("candidatesTokenCount") or 0) + thoughts
    result: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": metadata.get("totalTokenCount") or prompt + completion,
    }
    if metadata.get("cachedContentTokenCount"):
        result["prompt_tokens_details"] = {"cached_tokens": metadata["cachedContentTokenCount"]}
    if thoughts:
        result["completion_tokens_details"] = {"reasoning_tokens": thoughts}
    return result


class StreamTranslator:
    """Turns Gemini stream chunks into OpenAI `chat.completion.chunk`s (one stream, no I/O).

    Gemini has no stop event: the stream is complete when every candidate reported a finishReason.
    """

    def __init__(self, *, model: str) -> None:
        self.id = ""
        self.model = model
        self.created = int(time.time())
        self.usage: dict[str, Any] = {}
        self.finish_reasons: dict[int, str] = {}
        self.tool_counts: dict[int, int] = {}

    def chunk(self, index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    def feed(self, data: str) -> list[dict[str, Any]]:
        """The chunks one Gemini SSE `data:` payload produces; raises for an error or malformed one."""
        try:
            answer = orjson.loads(data)
        except orjson.JSONDecodeError:
            answer = None
        if not isinstance(answer, dict):
            raise errors.UpstreamMalformed("The provider sent a malformed stream chunk.")
        if "error" in answer:
            error = answer["error"] if isinstance(answer["error"], dict) else {"message": answer["error"]}
            raise errors.ProviderError(f"The provider reported an error mid-stream: {error.get('message')}")
        self.id = self.id or _completion_id(answer)
        self.model = answer.get("modelVersion") or self.model
        self.usage = answer.get("usageMetadata") or self.usage
        chunks = []
        for position, candidate in enumerate(answer.get("candidates") or ()):
            index = candidate.get("index", position)
            if index not in self.tool_counts:
                self.tool_counts[index] = 0
                chunks.append(self.chunk(index, {"role": "assistant", "content": ""}))
            raise_for_failed_candidate(candidate)
            text, tool_calls = _candidate_output(candidate)
            if reasoning := gemini_thoughts(candidate):
                chunks.append(self.chunk(index, {"reasoning_content": reasoning}))
            if text:
                chunks.append(self.chunk(index, {"content": text}))
                chunks[-1]["choices"][0]["logprobs"] = openai_logprobs(candidate.get("logprobsResult"))
            if tool_calls:
                first = self.tool_counts[index]
                self.tool_counts[index] += len(tool_calls)
                deltas = [{"index": first + offset, **call} for offset, call in enumerate(tool_calls)]
                chunks.append(self.chunk(index, {"tool_calls": deltas}))
            if candidate.get("finishReason"):
                reason = finish_reason(candidate["finishReason"])
                self.finish_reasons[index] = "tool_calls" if self.tool_counts[index] else reason
        if not answer.get("candidates") and (answer.get("promptFeedback") or {}).get("blockReason"):
            if 0 not in self.tool_counts:
                self.tool_counts[0] = 0
                chunks.append(self.chunk(0, {"role": "assistant", "content": ""}))
            self.finish_reasons[0] = "content_filter"
        return chunks

    def finish(self) -> list[dict[str, Any]]:
        """The closing chunks (finish reasons, then usage); raises when the stream was cut short."""
        if not self.finish_reasons or set(self.tool_counts) - set(self.finish_reasons):
            raise errors.StreamTruncated("The provider's stream ended before it finished.")
        closing = [self.chunk(index, {}, reason) for index, reason in sorted(self.finish_reasons.items())]
        usage_chunk = {**self.chunk(0, {}), "choices": [], "usage": usage(self.usage)}
        return [*closing, usage_chunk]
