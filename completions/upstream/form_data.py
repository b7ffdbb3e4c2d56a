"""`multipart/form-data` request bodies for upstreams (file uploads: transcription)."""

import secrets
from collections.abc import Mapping

# WHATWG HTML's escaping of field names and file names in a Content-Disposition header.
_ESCAPES = str.maketrans({'"': "%22", "\r": "%0D", "\n": "%0A"})


def encode_form_data(fields: Mapping[str, str], files: Mapping[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    """The body and `content-type` of a form with text `fields` and `files` (name -> (file name,
    bytes, content type)), text fields first."""
    boundary = secrets.token_hex(16)
    parts: list[bytes] = []
    for name, value in fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name.translate(_ESCAPES)}"\r\n\r\n'
        parts += [head.encode(), value.encode(), b"\r\n"]
    for name, (filename, data, content_type) in files.items():
        disposition = f'form-data; name="{name.translate(_ESCAPES)}"; filename="{filename.translate(_ESCAPES)}"'
        media_type = "".join(content_type.split()) or "application/octet-stream"  # no line breaks either
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: {media_type}\r\n\r\n"
        parts += [head.encode(), data, b"\r\n"]
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
