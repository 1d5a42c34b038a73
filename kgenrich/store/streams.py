"""Byte streams of RDF files: gzip decompressed as read, byte order marks handled, reads counted.

The lowest floor of loading (kgenrich.store.loading and kgenrich.store.jsonld both read through it).
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import LoadError
from .rdfio import FORMAT_NAMES, one_line

_READ_CHUNK = 1 << 20


@dataclass
class Source:
    """One file of a run: where, in what format, and the base IRI its relative IRIs resolve against."""

    path: Path
    fmt: str
    size: int
    in_directory: bool = False  # found in a directory the run names (not named itself)

    @property
    def base(self) -> str:
        return self.path.resolve().as_uri()


# ------------------------------------------------------------------ byte streams
class _Counted(io.RawIOBase):
    """A file's raw bytes, counting what was read (for a progress bar in bytes of the file as stored)."""

    def __init__(self, raw, on_read: Callable[[int], None] | None):
        self._raw = raw
        self._on_read = on_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._raw.readinto(buffer)
        if n and self._on_read is not None:
            self._on_read(n)
        return n or 0

    def close(self) -> None:
        self._raw.close()
        super().close()


_BOMS = [(b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe", "UTF-16"),
         (b"\xfe\xff", "UTF-16")]


def open_stream(source: Source, on_read: Callable[[int], None] | None = None):
    """The bytes the parser should read, as a stream: gzip decompressed as read, a UTF-8 byte order mark
    skipped, a UTF-16/32 one refused; RDF/XML in another declared encoding transcoded (read whole)."""
    try:
        raw = open(source.path, "rb")
    except IsADirectoryError:
        raise LoadError("is a directory, not an RDF file") from None
    except OSError as exc:
        raise LoadError(f"cannot read ({exc.strerror})") from None
    counted = io.BufferedReader(_Counted(raw, on_read), _READ_CHUNK)
    try:
        magic = counted.peek(2)[:2]
    except OSError as exc:
        counted.close()
        raise LoadError(f"cannot read ({exc.strerror})") from None
    stream = io.BufferedReader(gzip.GzipFile(fileobj=counted, mode="rb"), _READ_CHUNK) if magic == b"\x1f\x8b" \
        else counted
    try:
        head = stream.peek(4)[:4]
    except BaseException as exc:
        stream.close()
        raise read_error(exc) from None
    if source.fmt == "rdfxml":
        from .rdfio import _to_utf8_xml, _xml_encoding

        encoding = _xml_encoding(stream.peek(512)[:512])
        if encoding is not None:
            return io.BytesIO(_to_utf8_xml(read_all(stream), *encoding))
    if head.startswith(b"\xef\xbb\xbf"):
        stream.read(3)
        return stream
    if source.fmt != "rdfxml":
        for bom, name in _BOMS:
            if head.startswith(bom):
                stream.close()
                raise LoadError(f"encoded as {name} (byte order mark); {FORMAT_NAMES.get(source.fmt, source.fmt)} "
                                "files must be UTF-8")
    return stream


def read_all(stream) -> bytes:
    """The rest of an open stream, which is closed; a read that fails as :func:`read_error` says."""
    try:
        return stream.read()
    except BaseException as exc:
        raise read_error(exc) from None
    finally:
        stream.close()


def read_error(exc: BaseException) -> BaseException:
    """A reading failure as a LoadError of one line (KeyboardInterrupt and the like pass unchanged)."""
    if isinstance(exc, (zlib.error, EOFError, gzip.BadGzipFile)):
        return LoadError(f"broken gzip file ({one_line(exc)})")
    if isinstance(exc, OSError):
        return LoadError(f"cannot read ({one_line(exc.strerror or exc)})")
    return exc


