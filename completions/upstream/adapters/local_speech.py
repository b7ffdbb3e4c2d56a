"""The built-in `espeak` protocol: speech from the local espeak-ng program, so speech works offline.

The provider row's base URL is a placeholder; nothing goes over the network. espeak-ng runs as a
subprocess (`asyncio.create_subprocess_exec`: no shell, no thread held while it works) reading the
text on stdin and writing WAV to stdout; a cancelled request kills it.

Formats: `wav` always. `mp3`, `flac` and `pcm` (16-bit little-endian mono at 24 kHz, as OpenAI's) need
a converter on PATH: ffmpeg (which also gives `opus` in Ogg and `aac` in ADTS), or sox (`flac`,
`pcm`, and `mp3` when its mp3 format handler is installed). A format no converter here can produce is
a 400 `unsupported_capability` naming the formats that work; a request that names no format gets
mp3 when possible, otherwise wav.

Processes are bounded: at most `G4F["LOCAL_SPEECH_MAX_PROCESSES"]` requests (default one per CPU
core) run espeak-ng and its converter at once per event loop; the rest queue, each for at most
`LOCAL_SPEECH_QUEUE_TIMEOUT` seconds, then get 503 `local_speech_busy` with Retry-After.

Voices: OpenAI's names map to English espeak-ng voices; espeak-ng's own voice names (`de`,
`en-gb+f3`, ...) are accepted as they are.
"""

import asyncio
import os
import re
import shutil
import struct
import weakref
from functools import cache
from typing import Any

from completions import errors
from completions.upstream.adapters.base import Adapter, SpeechResult, UpstreamTarget
from g4fsite.conf import gateway_settings

ESPEAK = "espeak-ng"
BASE_WPM = 175  # espeak-ng's default speed, words per minute, for `speed` 1.0
MIN_WPM, MAX_WPM = 80, 500
PCM_RATE = 24000
OPENAI_VOICES = {
    "alloy": "en-us",
    "ash": "en-us+m2",
    "ballad": "en-gb+m4",
    "coral": "en-us+f2",
    "echo": "en-us+m3",
    "fable": "en-gb",
    "nova": "en-us+f3",
    "onyx": "en-us+m7",
    "sage": "en-gb+f3",
    "shimmer": "en-us+f4",
    "verse": "en-us+m5",
}
ESPEAK_VOICE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{1,8})*(\+[a-z0-9]{1,12})?$", re.IGNORECASE)
CONTENT_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "pcm": "audio/pcm",
    "opus": "audio/opus",
    "aac": "audio/aac",
}
FFMPEG_OUTPUT = {
    "mp3": ["-f", "mp3"],
    "flac": ["-f", "flac"],
    "opus": ["-c:a", "libopus", "-f", "ogg"],
    "aac": ["-c:a", "aac", "-f", "adts"],
    "pcm": ["-f", "s16le", "-acodec", "pcm_s16le", "-ar", str(PCM_RATE), "-ac", "1"],
}
SOX_OUTPUT = {
    "mp3": ["-t", "mp3"],
    "flac": ["-t", "flac"],
    "pcm": ["-t", "raw", "-r", str(PCM_RATE), "-e", "signed-integer", "-b", "16", "-c", "1", "-L"],
}


class EspeakAdapter(Adapter):
    """Speech only; chat, images and transcription raise UnsupportedCapability."""

    protocol = "espeak"

    async def speech(self, target: UpstreamTarget, payload: dict[str, Any]) -> SpeechResult:
        requested = payload.get("response_format")
        available = await available_formats()
        audio_format = requested or ("mp3" if "mp3" in available else "wav")
        if audio_format not in available:
            raise errors.UnsupportedCapability(
                f"The local espeak-ng provider cannot produce '{audio_format}' audio here "
                f"(available: {', '.join(sorted(available))}; install ffmpeg for every format).",
                param="response_format",
            )
        async with SpeechSlot():
            return await self._speak(target, payload, audio_format)

    async def _speak(self, target: UpstreamTarget, payload: dict[str, Any], audio_format: str) -> SpeechResult:
        command = [
            ESPEAK,
            "--stdout",
            "-b",
            "1",
            "-v",
            espeak_voice(str(payload.get("voice") or "alloy")),
            "-s",
            str(words_per_minute(payload.get("speed"))),
            "--stdin",
        ]
        wav = fix_wav_sizes(await run(command, payload["input"].encode("utf-8"), timeout=target.timeout))
        if audio_format == "wav":
            return SpeechResult(wav, CONTENT_TYPES["wav"])
        audio = await run(converter_command(audio_format), wav, timeout=target.timeout)
        return SpeechResult(audio, CONTENT_TYPES[audio_format])


# limit -> semaphore, per event loop (a semaphore serves one loop).
_speech_slots: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Semaphore]]" = (
    weakref.WeakKeyDictionary()
)


class SpeechSlot:
    """One of the `LOCAL_SPEECH_MAX_PROCESSES` slots for running speech programs, waited for at most
    `LOCAL_SPEECH_QUEUE_TIMEOUT` seconds (then `LocalSpeechBusy`)."""

    __slots__ = ("semaphore", "limit")

    def __init__(self) -> None:
        self.limit = gateway_settings.LOCAL_SPEECH_MAX_PROCESSES or os.cpu_count() or 1
        per_loop = _speech_slots.setdefault(asyncio.get_running_loop(), {})
        self.semaphore = per_loop.get(self.limit) or per_loop.setdefault(self.limit, asyncio.Semaphore(self.limit))

    async def __aenter__(self) -> None:
        wait = gateway_settings.LOCAL_SPEECH_QUEUE_TIMEOUT
        try:
            async with asyncio.timeout(wait):
                await self.semaphore.acquire()
        except TimeoutError:
            raise errors.LocalSpeechBusy(
                f"All {self.limit} local speech processes are busy and none finished within {wait:g}s; retry shortly.",
                retry_after=1.0,
            ) from None

    async def __aexit__(self, *exc_info: object) -> None:
        self.semaphore.release()


def espeak_voice(voice: str) -> str:
    """The espeak-ng voice for an OpenAI voice name or an espeak-ng voice name."""
    mapped = OPENAI_VOICES.get(voice.lower())
    if mapped:
        return mapped
    if ESPEAK_VOICE.match(voice):
        return voice.lower()
    raise errors.ValidationFailed(
        f"Unknown voice '{voice}': use an OpenAI voice ({', '.join(OPENAI_VOICES)}) or an espeak-ng voice like 'de'.",
        param="voice",
    )


def words_per_minute(speed: Any) -> int:
    factor = float(speed) if isinstance(speed, (int, float)) and not isinstance(speed, bool) else 1.0
    return max(MIN_WPM, min(MAX_WPM, round(BASE_WPM * factor)))


def fix_wav_sizes(wav: bytes) -> bytes:
    """espeak-ng writing to a pipe cannot seek back, so its RIFF and data sizes are placeholders;
    set them from the real length so every decoder (Python's `wave` included) reads it right."""
    if len(wav) < 12 or wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise errors.LocalSpeechFailed("espeak-ng did not produce WAV audio.")
    fixed = bytearray(wav)
    struct.pack_into("<I", fixed, 4, len(wav) - 8)
    offset = 12
    while offset + 8 <= len(wav):
        chunk_id = wav[offset : offset + 4]
        if chunk_id == b"data":
            struct.pack_into("<I", fixed, offset + 4, len(wav) - offset - 8)
            return bytes(fixed)
        (size,) = struct.unpack_from("<I", wav, offset + 4)
        offset += 8 + size + (size & 1)
    raise errors.LocalSpeechFailed("espeak-ng produced WAV without audio data.")


@cache
def _which(program: str) -> str | None:
    return shutil.which(program)


_sox_formats: set[str] | None = None


async def available_formats() -> set[str]:
    """The formats this machine can produce: wav, plus what ffmpeg or sox can encode."""
    if _which("ffmpeg"):
        return {"wav", *FFMPEG_OUTPUT}
    if _which("sox"):
        return {"wav", *(await _sox_output_formats())}
    return {"wav"}


async def _sox_output_formats() -> set[str]:
    global _sox_formats
    if _sox_formats is None:
        try:
            listing = (await run([_which("sox") or "sox", "-h"], b"", timeout=10, check=False)).decode("latin-1")
        except errors.GatewayError:
            listing = ""
        line = next((line for line in listing.splitlines() if line.startswith("AUDIO FILE FORMATS:")), "")
        known = set(line.split(":", 1)[-1].split())
        _sox_formats = {"pcm"} | {name for name in ("mp3", "flac") if name in known}
    return _sox_formats


def converter_command(audio_format: str) -> list[str]:
    """A command reading WAV on stdin and writing `audio_format` to stdout."""
    ffmpeg = _which("ffmpeg")
    if ffmpeg:
        return [
            ffmpeg,
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "wav",
            "-i",
            "pipe:0",
            *FFMPEG_OUTPUT[audio_format],
            "pipe:1",
        ]
    sox = _which("sox")
    if sox and audio_format in SOX_OUTPUT:
        return [sox, "-q", "-t", "wav", "-", *SOX_OUTPUT[audio_format], "-"]
    raise errors.UnsupportedCapability(f"No converter for '{audio_format}' audio.", param="response_format")


async def run(command: list[str], stdin: bytes, *, timeout: float, check: bool = True) -> bytes:
    """Run a program with `stdin`, return its stdout; kill it on timeout or cancellation."""
    program = command[0]
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError:
        raise errors.LocalSpeechUnavailable(
            f"'{program}' is not installed (Debian: apt-get install {program})."
        ) from None
    try:
        async with asyncio.timeout(timeout):
            try:
                stdout, stderr = await process.communicate(stdin or None)
            except (RuntimeError, ConnectionError):  # it exited before reading its input (uvloop: RuntimeError)
                stdout, stderr = await asyncio.gather(_read_all(process.stdout), _read_all(process.stderr))
                await process.wait()
    except TimeoutError:
        raise errors.UpstreamTimeout(f"'{program}' did not finish within {timeout:g} seconds.") from None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if check and process.returncode != 0:
        message = stderr.decode("utf-8", "replace").strip()[:300] or f"exit status {process.returncode}"
        if program.endswith(ESPEAK) and "voice does not exist" in message:
            raise errors.ValidationFailed(f"espeak-ng has no such voice: {message}", param="voice")
        raise errors.LocalSpeechFailed(f"'{program}' failed: {message}")
    return stdout


async def _read_all(stream: asyncio.StreamReader | None) -> bytes:
    return await stream.read() if stream is not None else b""
