"""Conversions between pyoxigraph terms and rdflib terms."""

from __future__ import annotations

import pyoxigraph as ox
from rdflib import BNode, Literal, URIRef
from rdflib.namespace import XSD
from rdflib.term import Node

from ..sparql import UnsafeTerm

_XSD_STRING = str(XSD.string)
_RDF_LANGSTRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"


def solution_row(solution, names) -> dict[str, Node]:
    """One pyoxigraph query solution as a row: variable -> rdflib term, unbound variables left out."""
    row = {}
    for name in names:
        value = solution[name]
        if value is not None:
            row[name] = to_rdflib(value)
    return row


def to_rdflib(term) -> Node:
    if isinstance(term, ox.NamedNode):
        return URIRef(term.value)
    if isinstance(term, ox.Literal):
        if term.language:
            return Literal(term.value, lang=term.language)
        datatype = term.datatype.value
        if datatype == _XSD_STRING:
            return Literal(term.value)
        # normalize=False keeps the lexical form exactly as stored.
        return Literal(term.value, datatype=URIRef(datatype), normalize=False)
    if isinstance(term, ox.BlankNode):
        return BNode(term.value)
    raise TypeError(f"unsupported term {term!r}")


def to_oxigraph(term: Node):
    """The pyoxigraph term; a term no store can hold (a relative IRI, a malformed language tag)
    raises UnsafeTerm, as binding it into SPARQL for a remote store does."""
    try:
        if isinstance(term, URIRef):
            return ox.NamedNode(str(term))
        if isinstance(term, Literal):
            if term.language:
                return ox.Literal(str(term), language=term.language)
            if term.datatype is not None and str(term.datatype) not in (_XSD_STRING, _RDF_LANGSTRING):
                return ox.Literal(str(term), datatype=ox.NamedNode(str(term.datatype)))
            return ox.Literal(str(term))
        if isinstance(term, BNode):
            return ox.BlankNode(str(term))
    except ValueError as exc:
        raise UnsafeTerm(f"not a valid RDF term: {str(term)!r} ({exc})") from None
    raise TypeError(f"unsupported term {term!r}")
