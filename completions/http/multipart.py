"""A small `multipart/form-data` parser for uploads whose body is already read (with its size limit).

The body is split on its boundary with `bytes.find` (linear, no per-line work, no copies beyond one
slice per part) and each part's headers are parsed by the stdlib email parser.
"""

import email.parser
import email.policy
from dataclasses import dataclass, field

from completions import errors

_HEADERS = email.parser.BytesHeaderParser(policy=email.policy.HTTP)


@dataclass(frozen=True, slots=True)
class UploadedFile:
    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class FormData:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[UploadedFile] = field(default_factory=list)

    def file(self, name: str) -> UploadedFile | None:
        return next((upload for upload in self.files if upload.field == name), None)


def boundary_of(content_type: str) -> bytes:
    """The boundary of a multipart/form-data content type; InvalidRequest when it is not one."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        raise errors.UnsupportedMediaType("The request must be multipart/form-data.", param="file")
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary" and value.strip('"'):
            return value.strip('"').encode("latin-1")
    raise errors.InvalidMultipart("The multipart/form-data content type has no boundary.")


def parse_form(body: bytes, content_type: str) -> FormData:
    """Parse a multipart/form-data body into plain fields and files."""
    delimiter = b"--" + boundary_of(content_type)
    malformed = errors.InvalidMultipart("The multipart/form-data body is malformed.")
    start = body.find(delimiter)
    if start < 0:
        raise malformed
    form = FormData()
    position = start + len(delimiter)
    while True:
        if body.startswith(b"--", position):
            return form  # the closing delimiter
        if not body.startswith(b"\r\n", position):
            raise malformed
        end = body.find(b"\r\n" + delimiter, position)
        if end < 0:
            raise malformed
        _add_part(form, body[position + 2 : end], malformed)
        position = end + 2 + len(delimiter)


def _add_part(form: FormData, part: bytes, malformed: errors.InvalidRequest) -> None:
    head, separator, data = part.partition(b"\r\n\r\n")
    if not separator:
        if not part.startswith(b"\r\n"):
            raise malformed
        head, data = b"", part[2:]
    headers = _HEADERS.parsebytes(head + b"\r\n\r\n")
    name = headers.get_param("name", header="content-disposition")
    if not isinstance(name, str) or not name:
        return
    filename = headers.get_filename()
    if filename is None:
        form.fields[name] = data.decode("utf-8", "replace")
    else:
        content_type = headers.get_content_type() if headers.get("content-type") else "application/octet-stream"
        form.files.append(UploadedFile(field=name, filename=filename, content_type=content_type, data=data))


MULTIPART_OVERHEAD = 64 * 1024  # room for the form's other fields and part headers


class MultipartBodyMixin:
    """Authenticate (and admit) and check the content type first, then read at most `body_limit()`
    bytes: a refused upload is never read."""

    def body_limit(self) -> int:
        raise NotImplementedError

    async def read_body(self) -> bytes:
        self.caller = await self.authenticate()
        await self.admit()
        boundary_of(self.headers.get("content-type", ""))
        return await self.receive_body(self.body_limit(), "The upload")
