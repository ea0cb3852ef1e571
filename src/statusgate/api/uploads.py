"""uploadFile's body, as clients send it: the raw file, or multipart/form-data with one file part.

The official Python SDK sends the raw bytes with the file's own Content-Type (Green documents that); the
official JavaScript SDK v2 sends ``multipart/form-data`` with one part named ``file``. Both are streamed to
the media store as they arrive, never held in memory. A urlencoded form has no file in it and is refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from statusgate.errors import ValidationError

_HOW = "send the file as the raw body, or as multipart/form-data with one file part"
#: a part's headers: Content-Disposition and Content-Type, rarely more
_MAX_PART_HEADERS = 8


class RawUpload:
    """The body is the file; its type is the request's Content-Type."""

    def __init__(self, chunks: AsyncIterator[bytes], file_name: str | None, mime_type: str | None) -> None:
        self._chunks = chunks
        self.file_name = file_name
        self.mime_type = mime_type

    def chunks(self) -> AsyncIterator[bytes]:
        return self._chunks


class MultipartUpload:
    """The one file part of a multipart body, its bytes handed on as the parser finds them.

    ``file_name`` and ``mime_type`` come from the part's headers (a GA-Filename header still wins for the
    name); they are known once the part's data has started, and final once :meth:`chunks` is exhausted.
    """

    def __init__(self, content_type: str, chunks: AsyncIterator[bytes], header_file_name: str | None) -> None:
        _kind, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if not boundary:
            raise ValidationError(f"'file' is required: the multipart body has no boundary ({_HOW})")
        self._body = chunks
        self._boundary = boundary
        self._header_file_name = header_file_name
        self.file_name: str | None = header_file_name
        self.mime_type: str | None = None
        # parser state, filled by the callbacks
        self._headers: dict[str, str] = {}
        self._field = b""
        self._value = b""
        self._in_file = False
        self._file_parts = 0
        self._pending: list[bytes] = []
        self._ended = False

    def chunks(self) -> AsyncIterator[bytes]:
        return self._stream()

    async def _stream(self) -> AsyncIterator[bytes]:
        parser = MultipartParser(self._boundary, self._callbacks(), max_header_count=_MAX_PART_HEADERS)
        async for chunk in self._body:
            try:
                parser.write(chunk)
            except MultipartParseError:
                raise ValidationError(
                    f"'file' is invalid: the body is not valid multipart/form-data ({_HOW})"
                ) from None
            if self._pending:
                pending, self._pending = self._pending, []
                for data in pending:
                    yield data
        # finalize() accepts a body cut off in the middle of a part: only the closing boundary proves the
        # file is whole
        if not self._ended:
            raise ValidationError(f"'file' is invalid: the multipart body ends early ({_HOW})")
        for data in self._pending:
            yield data
        if self._file_parts == 0:
            raise ValidationError(f"'file' is required: the multipart body has no file part ({_HOW})")

    def _callbacks(self) -> Any:
        def part_begin() -> None:
            self._headers = {}
            self._in_file = False

        def header_field(data: bytes, start: int, end: int) -> None:
            self._field += data[start:end]

        def header_value(data: bytes, start: int, end: int) -> None:
            self._value += data[start:end]

        def header_end() -> None:
            name = self._field.decode("latin-1").strip().lower()
            # latin-1 keeps every byte as it came (parse_options_header turns the value back into bytes that
            # way); the file name is decoded as UTF-8 once it is out of the header
            self._headers[name] = self._value.decode("latin-1").strip()
            self._field = self._value = b""

        def headers_finished() -> None:
            _disposition, params = parse_options_header(self._headers.get("content-disposition", ""))
            if b"filename" not in params:
                return  # a plain form field: not the file, and ignored
            self._file_parts += 1
            if self._file_parts > 1:
                raise ValidationError(
                    f"'file' must be a single file: the multipart body has several ({_HOW})"
                )
            self._in_file = True
            if self._header_file_name is None:
                self.file_name = params[b"filename"].decode("utf-8", "replace") or None
            self.mime_type = self._headers.get("content-type") or None

        def part_data(data: bytes, start: int, end: int) -> None:
            if self._in_file:
                self._pending.append(bytes(data[start:end]))

        def end() -> None:
            self._ended = True

        return {
            "on_part_begin": part_begin,
            "on_header_field": header_field,
            "on_header_value": header_value,
            "on_header_end": header_end,
            "on_headers_finished": headers_finished,
            "on_part_data": part_data,
            "on_end": end,
        }


def upload_body(
    content_type: str | None, chunks: AsyncIterator[bytes], header_file_name: str | None
) -> RawUpload | MultipartUpload:
    """How to read uploadFile's body, from its Content-Type."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind == "multipart/form-data":
        return MultipartUpload(content_type or "", chunks, header_file_name)
    if kind == "application/x-www-form-urlencoded":
        raise ValidationError(f"'file' is required: a urlencoded form carries no file ({_HOW})")
    return RawUpload(chunks, header_file_name, content_type)
