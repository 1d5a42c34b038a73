"""The one store interface every stage uses.

Two implementations: :class:`~kgenrich.store.embedded.EmbeddedStore`
(pyoxigraph, in memory or on disk) and :class:`~kgenrich.store.remote.RemoteStore`
(any SPARQL 1.1 endpoint, optionally with the Graph Store Protocol).  Both speak
rdflib terms to the rest of the package, so the same ``queries/*.rq`` run on
both and the caller never sees which store it has.
"""

from __future__ import annotations

import gzip
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from rdflib import URIRef
from rdflib.term import Node

from ..errors import LoadError

Row = dict[str, Node]
Triple = tuple[Node, Node, Node]

# Format names as the CLI and the stores use them, with their media types.
FORMATS = {
    "turtle": "text/turtle",
    "trig": "application/trig",
    "ntriples": "application/n-triples",
    "nquads": "application/n-quads",
    "rdfxml": "application/rdf+xml",
}
QUAD_FORMATS = {"trig", "nquads"}
_SUFFIXES = {
    ".ttl": "turtle",
    ".turtle": "turtle",
    ".trig": "trig",
    ".nt": "ntriples",
    ".ntriples": "ntriples",
    ".nq": "nquads",
    ".nquads": "nquads",
    ".rdf": "rdfxml",
    ".owl": "rdfxml",
    ".xml": "rdfxml",
}


def guess_format(path: Path) -> str:
    """The RDF format of a file from its name (``.gz`` looked through)."""
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    suffix = Path(name).suffix
    if suffix not in _SUFFIXES:
        known = ", ".join(sorted(_SUFFIXES))
        raise LoadError(f"{path}: unknown RDF format '{suffix or name}' (known: {known}, optionally .gz)")
    return _SUFFIXES[suffix]


def read_rdf_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it is gzipped."""
    if not path.exists():
        raise LoadError(f"{path}: no such file")
    if path.is_dir():
        raise LoadError(f"{path}: is a directory, not an RDF file")
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise LoadError(f"{path}: broken gzip file ({exc})") from None
    return data


@dataclass
class LoadReport:
    path: str
    format: str
    quads: int
    graphs: int


class Store(ABC):
    """A quad store that answers SPARQL 1.1 and accepts whole-graph writes."""

    #: Human-readable description for messages (never includes credentials).
    description: str = "store"

    # --- reading -----------------------------------------------------------
    @abstractmethod
    def select(self, query: str) -> list[Row]:
        """Rows of a SELECT, each a dict of bound variables to rdflib terms."""

    @abstractmethod
    def ask(self, query: str) -> bool:
        """The answer to an ASK."""

    @abstractmethod
    def construct(self, query: str) -> list[Triple]:
        """Triples of a CONSTRUCT (or DESCRIBE)."""

    # --- writing -----------------------------------------------------------
    @abstractmethod
    def update(self, update: str) -> None:
        """Run one SPARQL Update request (atomic where the store is)."""

    @abstractmethod
    def load_bytes(self, data: bytes, fmt: str, graph: URIRef | None = None, base: str | None = None) -> int:
        """Add RDF in a format of FORMATS; all or nothing.  Returns quads added.

        Triples go into ``graph`` (the default graph when None); quad formats keep their graphs.
        """

    @abstractmethod
    def replace_graph(self, graph: URIRef, triples: Iterable[Triple]) -> int:
        """Replace the content of one named graph in a single step readers see whole.

        Returns the number of triples written.
        """

    @abstractmethod
    def drop_graph(self, graph: URIRef) -> None:
        """Remove a named graph (silently if absent)."""

    @abstractmethod
    def graph_names(self) -> list[URIRef]:
        """The named graphs that hold at least one triple."""

    @abstractmethod
    def graph_triples(self, graph: URIRef) -> Iterator[Triple]:
        """Every triple of one named graph."""

    def close(self) -> None:  # pragma: no cover - trivial default
        """Release files or connections."""

    # --- shared conveniences ----------------------------------------------
    def load_file(self, path: Path, fmt: str | None = None, graph: URIRef | None = None) -> LoadReport:
        """Load one file, all or nothing, naming the file in any error."""
        path = Path(path)
        fmt = fmt or guess_format(path)
        data = read_rdf_bytes(path)
        if graph is not None and fmt in QUAD_FORMATS:
            raise LoadError(f"{path}: --graph applies to triple formats; {fmt} carries its own graphs")
        try:
            quads = self.load_bytes(data, fmt, graph=graph, base=path.resolve().as_uri())
        except LoadError as exc:
            raise LoadError(f"{path}: {exc}") from None
        return LoadReport(str(path), fmt, quads, 0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
