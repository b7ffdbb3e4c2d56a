"""POST /v1/audio/transcriptions and /v1/audio/speech through the openai SDK, with the fake upstream
and, for speech, the built-in espeak-ng provider for real."""

import io
import shutil
import wave

import openai
import pytest

from tests.fake_upstream.assets import TINY_WAV
from tests.helpers import add_local_speech
from tests.openapi import assert_valid

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


@pytest.fixture
def ears(gateway):
    gateway.add_provider("ears", models=["whisper-1"], capabilities=("transcription",))
    return gateway


@pytest.fixture
def voice(gateway):
    gateway.add_provider("voice", models=["tts-fake"], capabilities=("speech",))
    return gateway


def frames_of(data: bytes) -> int:
    with wave.open(io.BytesIO(data)) as audio:
        frames = audio.getnframes()
        assert len(audio.readframes(frames)) == frames * audio.getsampwidth() * audio.getnchannels()
        return frames


# --- transcription ---------------------------------------------------------------------------------


def test_transcription_json(ears):
    result = ears.openai().audio.transcriptions.create(model="whisper-1", file=("hello.wav", TINY_WAV, "audio/wav"))
    assert result.text == f"Transcribed {len(TINY_WAV)} bytes"
    sent = ears.fake.requests_for("ears")[0]
    assert sent.form["model"] == "whisper-1" and sent.form["file"].data == TINY_WAV
    raw = ears.post(
        "/v1/audio/transcriptions", files={"file": ("a.mp3", TINY_WAV)}, data={"model": "whisper-1", "language": "en"}
    )
    assert raw.status_code == 200 and raw.headers["x-provider"] == "ears"
    assert_valid("CreateTranscriptionResponseJson", raw.json())
    assert ears.fake.requests_for("ears")[-1].form["language"] == "en"


def test_transcription_text_formats(ears):
    client = ears.openai()
    text = client.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", TINY_WAV, "audio/wav"), response_format="text"
    )
    assert text.strip() == f"Transcribed {len(TINY_WAV)} bytes"
    srt = ears.post(
        "/v1/audio/transcriptions",
        files={"file": ("a.wav", TINY_WAV, "audio/wav")},
        data={"model": "whisper-1", "response_format": "srt"},
    )
    assert srt.status_code == 200 and srt.headers["content-type"].startswith("text/plain")
    assert "-->" in srt.text
    verbose = ears.post(
        "/v1/audio/transcriptions",
        files={"file": ("a.wav", TINY_WAV, "audio/wav")},
        data={"model": "whisper-1", "response_format": "verbose_json"},
    )
    assert_valid("CreateTranscriptionResponseVerboseJson", verbose.json())


def test_transcription_oversize_file_is_413(ears, settings):
    settings.G4F = {**settings.G4F, "MAX_UPLOAD_BYTES": 1000}
    big = b"\x00" * 2000
    response = ears.post(
        "/v1/audio/transcriptions", files={"file": ("a.wav", big, "audio/wav")}, data={"model": "whisper-1"}
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"
    # Beyond the limit plus room for the form, the body is refused while it is read.
    huge = b"\x00" * (200 * 1024)
    response = ears.post(
        "/v1/audio/transcriptions", files={"file": ("a.wav", huge, "audio/wav")}, data={"model": "whisper-1"}
    )
    assert response.status_code == 413
    assert not ears.fake.requests_for("ears")


@pytest.mark.parametrize(
    "files, data, param",
    [
        ({"file": ("notes.txt", b"hello", "text/plain")}, {"model": "whisper-1"}, "file"),
        ({"other": ("a.wav", TINY_WAV, "audio/wav")}, {"model": "whisper-1"}, "file"),
        (
            {"file": ("a.wav", TINY_WAV, "audio/wav")},
            {"model": "whisper-1", "response_format": "xml"},
            "response_format",
        ),
        ({"file": ("a.wav", TINY_WAV, "audio/wav")}, {"model": "whisper-1", "temperature": "7"}, "temperature"),
    ],
)
def test_transcription_bad_requests(ears, files, data, param):
    response = ears.post("/v1/audio/transcriptions", files=files, data=data)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert not ears.fake.requests_for("ears")


def test_transcription_needs_multipart(ears):
    response = ears.post("/v1/audio/transcriptions", {"model": "whisper-1"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "unsupported_media_type"


def test_transcription_upload_needs_a_key_when_auth_is_on(ears, settings):
    settings.G4F = {**settings.G4F, "API_KEY": "master-key"}
    response = ears.post("/v1/audio/transcriptions", files={"file": ("a.wav", TINY_WAV)}, data={"model": "whisper-1"})
    assert response.status_code == 401
    with pytest.raises(openai.AuthenticationError):
        ears.openai().audio.transcriptions.create(model="whisper-1", file=("a.wav", TINY_WAV, "audio/wav"))
    ok = ears.openai(api_key="master-key").audio.transcriptions.create(
        model="whisper-1", file=("a.wav", TINY_WAV, "audio/wav")
    )
    assert ok.text.startswith("Transcribed")


# --- speech ------------------------------------------------------------------------------------------


def test_speech_through_a_fake_provider(voice):
    response = voice.openai().audio.speech.create(model="tts-fake", voice="alloy", input="Hello", response_format="wav")
    assert response.content == TINY_WAV
    assert response.response.headers["content-type"] == "audio/wav"
    sent = voice.fake.requests_for("voice")[0].json
    assert sent["input"] == "Hello" and sent["voice"] == "alloy" and sent["model"] == "tts-fake"
    flac = voice.post(
        "/v1/audio/speech",
        {"model": "tts-fake", "input": "x", "voice": "nova", "response_format": "flac", "speed": 1.5},
    )
    assert flac.headers["content-type"] == "audio/flac" and flac.headers["x-provider"] == "voice"
    assert voice.fake.requests_for("voice")[-1].json["speed"] == 1.5


@pytest.mark.parametrize(
    "body, param",
    [
        ({"model": "tts-fake", "voice": "alloy"}, "input"),
        ({"model": "tts-fake", "voice": "alloy", "input": "x" * 4097}, "input"),
        ({"model": "tts-fake", "voice": "alloy", "input": "x", "speed": 5}, "speed"),
        ({"model": "tts-fake", "voice": "alloy", "input": "x", "speed": 0.1}, "speed"),
        ({"model": "tts-fake", "voice": "alloy", "input": "x", "response_format": "ogg"}, "response_format"),
        ({"model": "tts-fake", "voice": 3, "input": "x"}, "voice"),
    ],
)
def test_speech_bad_requests(voice, body, param):
    response = voice.post("/v1/audio/speech", body)
    assert response.status_code == 400 and response.json()["error"]["param"] == param
    assert not voice.fake.requests_for("voice")


@needs_espeak
def test_local_espeak_speech_for_real(gateway):
    add_local_speech("tts-local", "tts-fake")
    response = gateway.openai().audio.speech.create(
        model="tts-local", voice="alloy", input="The gateway speaks offline.", response_format="wav"
    )
    assert response.response.headers["content-type"] == "audio/wav"
    assert response.response.headers["x-provider"] == "LocalSpeech"
    assert frames_of(response.content) > 10_000


@needs_espeak
def test_local_espeak_is_the_fallback_when_the_upstream_fails(voice):
    add_local_speech("tts-local", "tts-fake", priority=-10)
    voice.fake.set_fault("voice", "500")
    response = voice.post(
        "/v1/audio/speech", {"model": "tts-fake", "input": "Fallback works.", "response_format": "wav"}
    )
    assert response.status_code == 200 and response.headers["x-provider"] == "LocalSpeech"
    assert frames_of(response.content) > 0


@needs_espeak
@pytest.mark.skipif(shutil.which("sox") is None and shutil.which("ffmpeg") is None, reason="no audio converter")
def test_local_espeak_mp3(gateway):
    add_local_speech("tts-local", "tts-fake")
    response = gateway.post(
        "/v1/audio/speech", {"model": "tts-local", "input": "mp3 please", "voice": "nova", "response_format": "mp3"}
    )
    assert response.status_code == 200 and response.headers["content-type"] == "audio/mpeg"
    assert response.content[:3] == b"ID3" or response.content[0] == 0xFF


@needs_espeak
def test_local_espeak_format_it_cannot_make_is_400(gateway):
    add_local_speech("tts-local", "tts-fake")
    response = gateway.post("/v1/audio/speech", {"model": "tts-local", "input": "x", "response_format": "aac"})
    if shutil.which("ffmpeg"):
        assert response.status_code == 200
    else:
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["param"] == "response_format" and "available" in error["message"]
