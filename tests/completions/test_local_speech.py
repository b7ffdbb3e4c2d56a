"""The built-in espeak-ng speech adapter, for real: the program runs and the audio decodes."""

import asyncio
import io
import shutil
import wave

import pytest

from completions import errors
from completions.upstream.adapters.base import UpstreamTarget
from completions.upstream.adapters.local_speech import EspeakAdapter, espeak_voice, fix_wav_sizes, words_per_minute

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

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


def test_format_without_converter_is_a_clear_400(monkeypatch):
    from completions.upstream.adapters import local_speech

    monkeypatch.setattr(local_speech, "_which", lambda program: None)
    with pytest.raises(errors.UnsupportedCapability) as caught:
        speak(response_format="mp3")
    assert caught.value.status_code == 400 and caught.value.param == "response_format"
    assert "available: wav" in caught.value.message
    default = speak()
    assert default.content_type == "audio/wav" and decoded_frames(default.audio)[0] > 0


def test_fix_wav_sizes_rejects_non_wav():
    with pytest.raises(errors.ProviderError):
        fix_wav_sizes(b"not a wav file at all")
