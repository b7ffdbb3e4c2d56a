"""Transcription and speech requests: validation, and one provider attempt each.

Transcription takes a multipart upload (`file` plus `model`, `language`, `prompt`,
`response_format` json | text | srt | vtt | verbose_json, `temperature`); the file must be at most
`MAX_UPLOAD_BYTES` (413) and audio: an `audio/*` content type or a known audio extension (400).
Speech takes JSON (`model`, `input` up to 4096 characters, `voice`, `response_format` mp3 | opus |
aac | flac | wav | pcm, `speed` 0.25 to 4.0) and answers the audio bytes.
"""

from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from completions import errors
from completions.http.multipart import FormData
from completions.serializers import json_object
from completions.upstream.adapters import Adapter, SpeechResult, UpstreamTarget
from g4fsite.conf import gateway_settings

TRANSCRIPTION_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
TEXT_FORMATS = ("text", "srt", "vtt")
AUDIO_EXTENSIONS = frozenset({"flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "oga", "opus", "wav", "webm", "aac"})
SPEECH_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
MAX_SPEECH_INPUT = 4096
MIN_SPEED, MAX_SPEED = 0.25, 4.0


@dataclass
class TranscriptionRequest:
    file: tuple[str, bytes, str]  # filename, data, content type
    model: str
    provider: str
    response_format: str
    options: dict[str, Any]  # language, prompt, temperature when given

    @classmethod
    def from_form(cls, form: FormData, *, provider: str = "") -> "TranscriptionRequest":
        upload = form.file("file")
        if upload is None:
            raise errors.ValidationFailed("'file' is required: send the audio as multipart/form-data.", param="file")
        limit = gateway_settings.MAX_UPLOAD_BYTES
        if len(upload.data) > limit:
            raise errors.RequestTooLarge(f"The audio file is larger than {limit} bytes.", param="file")
        if not upload.data:
            raise errors.ValidationFailed("The audio file is empty.", param="file")
        extension = PurePath(upload.filename).suffix.lower().lstrip(".")
        if not upload.content_type.startswith("audio/") and extension not in AUDIO_EXTENSIONS:
            raise errors.InvalidFileType(
                f"The file must be audio (audio/* or one of: {', '.join(sorted(AUDIO_EXTENSIONS))}); "
                f"got '{upload.filename}' ({upload.content_type}).",
                param="file",
            )
        fields = form.fields
        response_format = fields.get("response_format") or "json"
        if response_format not in TRANSCRIPTION_FORMATS:
            raise errors.ValidationFailed(
                f"'response_format' must be one of: {', '.join(TRANSCRIPTION_FORMATS)}.", param="response_format"
            )
        options: dict[str, Any] = {name: fields[name] for name in ("language", "prompt") if fields.get(name)}
        if fields.get("temperature"):
            options["temperature"] = _number(fields["temperature"], "temperature", 0.0, 1.0)
        return cls(
            file=(PurePath(upload.filename).name or f"audio.{extension or 'bin'}", upload.data, upload.content_type),
            model=fields.get("model") or gateway_settings.DEFAULT_MODEL,
            provider=provider or fields.get("provider") or gateway_settings.DEFAULT_PROVIDER,
            response_format=response_format,
            options=options,
        )


@dataclass
class SpeechRequest:
    model: str
    provider: str
    payload: dict[str, Any]  # input, voice, speed, response_format when given, instructions

    @classmethod
    def parse(cls, body: bytes, *, provider: str = "") -> "SpeechRequest":
        raw = json_object(body)
        text = raw.get("input")
        if not isinstance(text, str) or not text.strip():
            raise errors.ValidationFailed("'input' is required and must be a non-empty string.", param="input")
        if len(text) > MAX_SPEECH_INPUT:
            raise errors.ValidationFailed(f"'input' is longer than {MAX_SPEECH_INPUT} characters.", param="input")
        voice = raw.get("voice") or "alloy"
        if not isinstance(voice, str) or len(voice) > 100:
            raise errors.ValidationFailed("'voice' must be a voice name.", param="voice")
        payload: dict[str, Any] = {"input": text, "voice": voice}
        response_format = raw.get("response_format")
        if response_format is not None:
            if not isinstance(response_format, str) or response_format not in SPEECH_TYPES:
                raise errors.ValidationFailed(
                    f"'response_format' must be one of: {', '.join(SPEECH_TYPES)}.", param="response_format"
                )
            payload["response_format"] = response_format
        speed = raw.get("speed")
        if speed is not None:
            payload["speed"] = _number(speed, "speed", MIN_SPEED, MAX_SPEED)
        if isinstance(raw.get("instructions"), str):
            payload["instructions"] = raw["instructions"]
        for name in ("model", "provider"):
            if raw.get(name) is not None and not isinstance(raw[name], str):
                raise errors.ValidationFailed(f"'{name}' must be a string.", param=name)
        return cls(
            model=raw.get("model") or gateway_settings.DEFAULT_MODEL,
            provider=provider or raw.get("provider") or gateway_settings.DEFAULT_PROVIDER,
            payload=payload,
        )


def _number(value: Any, name: str, low: float, high: float) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError, OverflowError):
        number = None
    if number is None or not low <= number <= high:
        raise errors.ValidationFailed(f"'{name}' must be a number from {low:g} to {high:g}.", param=name)
    return number


async def transcribe(adapter: Adapter, target: UpstreamTarget, request: TranscriptionRequest) -> dict[str, Any] | str:
    """One attempt: a dict for json / verbose_json, text for text / srt / vtt."""
    payload = {"model": target.upstream_model, "response_format": request.response_format, **request.options}
    result = await adapter.transcription(target, request.file, payload)
    if request.response_format in TEXT_FORMATS:
        if isinstance(result, dict) and isinstance(result.get("text"), str):
            return result["text"]
        if isinstance(result, str):
            return result
    else:
        if isinstance(result, str):
            return {"text": result}
        if isinstance(result, dict) and isinstance(result.get("text"), str):
            return result if request.response_format == "verbose_json" else _json_result(result)
    raise errors.UpstreamMalformed("The provider's transcription has no text.")


def _json_result(result: dict[str, Any]) -> dict[str, Any]:
    return {key: result[key] for key in ("text", "usage", "logprobs", "languages") if key in result}


async def speak(adapter: Adapter, target: UpstreamTarget, request: SpeechRequest) -> SpeechResult:
    """One attempt: the audio bytes and their content type."""
    result = await adapter.speech(target, {"model": target.upstream_model, **request.payload})
    if not result.audio:
        raise errors.UpstreamMalformed("The provider's speech answer is empty.")
    content_type = result.content_type.split(";", 1)[0].strip().lower()
    if not content_type.startswith("audio/"):
        content_type = SPEECH_TYPES[request.payload.get("response_format", "mp3")]
    return SpeechResult(result.audio, content_type)
