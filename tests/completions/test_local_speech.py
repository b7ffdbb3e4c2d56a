"""The built-in espeak-ng speech adapter, for real: the program runs and the audio decodes."""

import asyncio
import io
import json
import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from completions import errors
from completions.upstream.adapters.base import UpstreamTarget
from completions.upstream.adapters.local_speech import EspeakAdapter, espeak_voice, fix_wav_sizes, words_per_minute

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

ROOT = Path(__file__).resolve().parents[2]
TARGET = UpstreamTarget(
    provider="LocalSpeech", base_url="http://localhost/espeak", upstream_model="espeak-ng", timeout=30
)


def speak(**payload):
    async def run():
        return await EspeakAdapter(client=None).speech(TARGET, {"input": "Hello from the gateway.", **payload})

    return asyncio.run(run())


def decoded_frames(data: bytes) -> tuple[int, int]:
    with wave.open(io.BytesIO(data)) as audio:
        frames = audio.getnframes()
        assert audio.readframes(frames)  # the sizes in the header are the real ones
        return frames, audio.getframerate()


def test_wav_decodes_with_frames():
    result = speak(response_format="wav")
    assert result.content_type == "audio/wav"
    frames, rate = decoded_frames(result.audio)
    assert rate == 22050
    assert 0.5 < frames / rate < 10  # about a second and a half of speech


def test_speed_makes_speech_shorter():
    slow = decoded_frames(speak(response_format="wav", speed=0.5).audio)[0]
    fast = decoded_frames(speak(response_format="wav", speed=2.0).audio)[0]
    assert fast < slow / 2


def test_voices_openai_and_espeak_names():
    assert espeak_voice("nova") == "en-us+f3"
    assert espeak_voice("de") == "de"
    with pytest.raises(errors.ValidationFailed):
        espeak_voice("--help")
    assert decoded_frames(speak(response_format="wav", voice="fr").audio)[0] > 0
    with pytest.raises(errors.ValidationFailed) as caught:
        speak(response_format="wav", voice="zz-nosuch")
    assert caught.value.param == "voice"


def test_words_per_minute_is_clamped():
    assert words_per_minute(1.0) == 175
    assert words_per_minute(0.25) == 80
    assert words_per_minute(4.0) == 500
    assert words_per_minute(None) == 175


def test_input_that_looks_like_options_is_spoken_not_parsed():
    result = speak(response_format="wav", input="-v xx --help")
    assert decoded_frames(result.audio)[0] > 0


@pytest.mark.skipif(shutil.which("sox") is None and shutil.which("ffmpeg") is None, reason="no converter")
def test_converted_formats():
    mp3 = speak(response_format="mp3")
    assert mp3.content_type == "audio/mpeg"
    assert mp3.audio[:3] == b"ID3" or mp3.audio[0] == 0xFF
    flac = speak(response_format="flac")
    assert flac.content_type == "audio/flac" and flac.audio[:4] == b"fLaC"
    pcm = speak(response_format="pcm")
    assert pcm.content_type == "audio/pcm" and len(pcm.audio) > 24000  # > 0.5 s at 24 kHz, 16-bit
    assert speak().content_type == "audio/mpeg"  # no format asked: mp3 when it can be made


# Run in a child process whose PATH holds espeak-ng alone: the adapter looks its converters up once
# per process, so this one must never have seen ffmpeg or sox.
WITHOUT_CONVERTER = """
import asyncio, io, json, wave
import django
django.setup()
from completions import errors
from completions.upstream.adapters.base import UpstreamTarget
from completions.upstream.adapters.local_speech import EspeakAdapter

target = UpstreamTarget(provider="LocalSpeech", base_url="http://x", upstream_model="espeak-ng", timeout=30)
speak = lambda **extra: asyncio.run(EspeakAdapter(client=None).speech(target, {"input": "Hello.", **extra}))
try:
    speak(response_format="mp3")
    refused = None
except errors.UnsupportedCapability as exc:
    refused = {"status": exc.status_code, "param": exc.param, "message": exc.message}
default = speak()
with wave.open(io.BytesIO(default.audio)) as audio:
    frames = audio.getnframes()
print(json.dumps({"refused": refused, "content_type": default.content_type, "frames": frames}))
"""


def test_format_without_converter_is_a_clear_400(tmp_path):
    (tmp_path / "espeak-ng").symlink_to(shutil.which("espeak-ng"))
    env = {**os.environ, "PATH": str(tmp_path), "DJANGO_SETTINGS_MODULE": "g4fsite.test_settings"}
    child = subprocess.run(
        [sys.executable, "-c", WITHOUT_CONVERTER], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert child.returncode == 0, child.stderr
    outcome = json.loads(child.stdout.strip().splitlines()[-1])
    assert outcome["refused"] is not None, "mp3 was made without ffmpeg or sox on PATH"
    assert outcome["refused"]["status"] == 400 and outcome["refused"]["param"] == "response_format"
    assert "available: wav" in outcome["refused"]["message"]
    assert outcome["content_type"] == "audio/wav" and outcome["frames"] > 0


def test_fix_wav_sizes_rejects_non_wav():
    with pytest.raises(errors.ProviderError):
        fix_wav_sizes(b"not a wav file at all")
