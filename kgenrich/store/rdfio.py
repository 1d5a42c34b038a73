"""RDF files into quads the same way on every store: one parser, one error style.

Both stores read files through pyoxigraph's parsers, so a file that loads into
the embedded store loads into a remote one and a file that fails fails alike,
with the same message.  Every failure is a :class:`LoadError` of one line that
says where (line and column, when the parser knows them) and what: never a
byte-string repr, never a multi-line parser dump.

Before the parser sees the bytes:

- gzip is looked through (a broken gzip stream is an error, whatever zlib raises);
- a UTF-8 byte order mark is dropped (editors on Windows write one; the RDF
  parsers would take it for data);
- a UTF-16/32 byte order mark in a text format is an error naming the encoding
  (Turtle, TriG, N-Triples and N-Quads are UTF-8 by definition);
- RDF/XML is checked to be well-formed XML first (the XML parser names the line
  of a tag left open, where the RDF/XML parser would accept a truncated file),
  and an XML document in another encoding (its declaration, or a UTF-16 byte
  order mark) is transcoded to UTF-8, as XML allows any encoding and the
  RDF/XML parser reads only UTF-8.
"""

from __future__ import annotations

import codecs
import gzip
import io
import re
import zlib
from xml.parsers import expat

import pyoxigraph as ox

from ..errors import LoadError

OX_FORMATS = {
    "turtle": ox.RdfFormat.TURTLE,
    "trig": ox.RdfFormat.TRIG,
    "ntriples": ox.RdfFormat.N_TRIPLES,
    "nquads": ox.RdfFormat.N_QUADS,
    "rdfxml": ox.RdfFormat.RDF_XML,
}
FORMAT_NAMES = {"turtle": "Turtle", "trig": "TriG", "ntriples": "N-Triples", "nquads": "N-Quads",
                "rdfxml": "RDF/XML"}
# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = [(codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"), (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
         (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"), (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16")]
_XML_DECLARATION = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z][A-Za-z0-9._\-]*)[\"']")
# pyoxigraph's messages start with the position it also gives as attributes.
_POSITION_PREFIX = re.compile(r"^Parser error at line \d+ (?:column \d+|between columns \d+ and \d+): ")
MAX_DETAIL = 200


def one_line(text: str | BaseException, limit: int = MAX_DETAIL) -> str:
    """A parser's message (or an exception's) as one printable line: control characters escaped, long ones cut."""
    out = []
    for ch in " ".join(str(text).split()):
        out.append(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii"))
    line = "".join(out)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def serialized(terms, fmt: ox.RdfFormat) -> bytes:
    """Quads or triples as the bytes of ``fmt`` (pyoxigraph's serialisation: escaped as the format requires)."""
    data = ox.serialize(terms, format=fmt)
    assert data is not None  # no file given: pyoxigraph returns the bytes
    return data


def gunzip(data: bytes, limit: int | None = None) -> bytes:
    """The bytes, decompressed when they are gzip (magic number 1f 8b); more than ``limit`` bytes decompressed
    is an error (a small file can decompress to gigabytes)."""
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            out = stream.read(limit + 1 if limit is not None else -1)
    except (OSError, EOFError, zlib.error) as exc:
        raise LoadError(f"broken gzip file ({one_line(exc)})") from None
    if limit is not None and len(out) > limit:
        raise LoadError(f"decompresses to more than {limit // (1024 * 1024)} MiB: too large to read whole "
                        "(kgenrich load streams files of any size)")
    return out


def _xml_encoding(data: bytes) -> tuple[str, str] | None:
    """(codec, name) of an XML document that is not UTF-8, from its byte order mark or declaration."""
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            return codec, name
    match = _XML_DECLARATION.match(data)
    if match:
        declared = match.group(1).decode("ascii")
        try:
            codec = codecs.lookup(declared).name
        except LookupError:
            raise LoadError(f"unknown encoding '{declared}' in the XML declaration") from None
        if codec not in ("utf-8", "ascii"):
            return codec, declared
    return None


def _to_utf8_xml(data: bytes, codec: str, name: str) -> bytes:
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        raise LoadError(f"not valid {name} text (byte {exc.start})") from None
    text = text.lstrip("\ufeff")
    # The declaration must now say what the bytes are.
    text = re.sub(r"^(<\?xml[^>]*?encoding\s*=\s*)([\"'])[^\"']*\2", r"\1\2UTF-8\2", text, count=1)
    return text.encode("utf-8")


def check_xml(data: bytes) -> None:
    """Raise a LoadError with line and column unless ``data`` is one well-formed XML document
    that declares no external entity (a file or URL to be read in its place: never read)."""
    check_xml_stream(io.BytesIO(data))


def check_xml_stream(stream, chunk_size: int = 1 << 20) -> None:
    """:func:`check_xml` on a binary stream, read in chunks (a file of any size in bounded memory)."""
    parser = expat.ParserCreate()

    def entity(name, is_parameter, value, base, system_id, public_id, notation):
        if system_id is not None or public_id is not None:
            raise LoadError(f"line {parser.CurrentLineNumber}, column {parser.CurrentColumnNumber + 1}: the "
                            f"external entity '{name}' ({system_id or public_id}) is refused: kgenrich reads no file "
                            "or URL an RDF/XML document points to; put the content in the document") from None

    parser.EntityDeclHandler = entity
    try:
        while True:
            chunk = stream.read(chunk_size)
            parser.Parse(chunk, not chunk)
            if not chunk:
                return
    except expat.ExpatError as exc:
        raise LoadError(f"line {exc.lineno}, column {exc.offset + 1}: not well-formed XML "
                        f"({expat.ErrorString(exc.code)})") from None


def prepare(data: bytes, fmt: str) -> bytes:
    """The bytes the parser should see (see the module docstring); raises LoadError."""
    data = gunzip(data)
    if fmt == "rdfxml":
        encoding = _xml_encoding(data)
        if encoding is not None:
            data = _to_utf8_xml(data, *encoding)
        elif data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8):]
        check_xml(data)
        return data
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):]
    for bom, _, name in _BOMS:
        if data.startswith(bom):
            raise LoadError(f"encoded as {name} (byte order mark); {FORMAT_NAMES.get(fmt, fmt)} files must be UTF-8")
    return data


def syntax_error(exc: BaseException, fmt: str) -> LoadError:
    """One line for a parser's SyntaxError: 'line L, column C: not valid FORMAT: what'."""
    message = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    message = _POSITION_PREFIX.sub("", message)
    where = ""
    line = getattr(exc, "lineno", None)
    if line:
        column = getattr(exc, "offset", None)
        where = f"line {line}, column {column}: " if column else f"line {line}: "
    return LoadError(f"{where}not valid {FORMAT_NAMES.get(fmt, fmt)}: {one_line(message)}")


def parse_quads(data: bytes, fmt: str, graph: ox.NamedNode | None = None, base: str | None = None) -> list[ox.Quad]:
    """Every quad of the document, or a LoadError before any is returned.

    Triples of a triple format go into ``graph`` (the default graph when None).
    """
    if fmt not in OX_FORMATS:
        raise LoadError(f"unknown RDF format '{fmt}'")
    data = prepare(data, fmt)
    try:
        quads = list(ox.parse(data, format=OX_FORMATS[fmt], base_iri=base))
    except SyntaxError as exc:
        raise syntax_error(exc, fmt) from None
    except ValueError as exc:  # e.g. a base IRI the parser refuses
        raise LoadError(one_line(exc)) from None
    if graph is not None:
        quads = [ox.Quad(q.subject, q.predicate, q.object, graph) for q in quads]
    return quads
