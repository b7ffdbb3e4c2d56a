"""The OpenAI-compatible adapter's file upload: transcription sends a `multipart/form-data` body that
a multipart parser reads back field by field."""

import dataclasses

from completions.http.multipart import parse_form
from completions.upstream.adapters.base import UpstreamTarget
from completions.upstream.adapters.openai import OpenAIAdapter
from tests.completions.adapter_harness import AdapterRun
from tests.completions.fake_transport import Reply, replying

TARGET = UpstreamTarget(provider="groq", base_url="https://api.groq.com/openai/v1", upstream_model="whisper-1")
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt \r\n--not-a-boundary\r\n\x00\xff"


def test_transcription_uploads_a_multipart_form():
    keyed = dataclasses.replace(TARGET, api_key="gsk-1")
    upstream = AdapterRun(OpenAIAdapter, keyed, replying(Reply(200, json={"text": "hello"})))
    file = ('take "1"\r\n.wav', WAV, "audio/wav")
    payload = {"model": "whisper-1", "response_format": "json", "language": None, "temperature": 0.5}
    assert upstream.run("transcription", file, payload) == {"text": "hello"}

    [request] = upstream.requests
    assert (request.method, str(request.url)) == ("POST", "https://api.groq.com/openai/v1/audio/transcriptions")
    assert request.headers["authorization"] == "Bearer gsk-1"
    content_type = request.headers["content-type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    form = parse_form(request.content, content_type)
    assert form.fields == {"model": "whisper-1", "response_format": "json", "temperature": "0.5"}
    [upload] = form.files
    assert (upload.field, upload.content_type, upload.data) == ("file", "audio/wav", WAV)
    assert upload.filename == "take %221%22%0D%0A.wav"  # quotes and line breaks escaped, as browsers do


def test_text_transcription_formats_return_the_body_as_text():
    upstream = AdapterRun(OpenAIAdapter, TARGET, replying(Reply(200, content="1\n00:00 --> 00:01\nhé\n".encode())))
    text = upstream.run("transcription", ("a.wav", WAV, "audio/wav"), {"model": "whisper-1", "response_format": "srt"})
    assert text == "1\n00:00 --> 00:01\nhé\n"
    assert "authorization" not in upstream.requests[0].headers
