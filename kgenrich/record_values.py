"""From RDF terms to the values a record holds: a date's year, a time-span as "BEGIN/END", a
feature's value as the tabular model reads it, a text's language.  Pure functions of the terms
(dataset.py applies them to the rows it reads).
"""

from __future__ import annotations

import re

from rdflib import BNode, Literal, URIRef
from rdflib.namespace import XSD

_NUMBER_TYPES = {str(XSD.integer), str(XSD.decimal), str(XSD.double), str(XSD.float), str(XSD.int), str(XSD.long),
                 str(XSD.short), str(XSD.nonNegativeInteger), str(XSD.positiveInteger)}
_DATE_TYPES = {str(XSD.date), str(XSD.dateTime), str(XSD.gYear), str(XSD.gYearMonth),
               "http://www.w3.org/2001/XMLSchema#dateTimeStamp"}
_YEAR = re.compile(r"^\s*(-?\d{1,6})(?:-|$|T|Z|[+]|\s)")


def literal_year(term) -> int | None:
    """The year of a date literal (xsd:date, xsd:dateTime, xsd:gYear ... read from its lexical form, so a
    year outside Python's datetime range works too), or None."""
    if not isinstance(term, Literal):
        return None
    match = _YEAR.match(str(term))
    if not match or (term.datatype is not None and str(term.datatype) not in _DATE_TYPES
                     and str(term.datatype) != str(XSD.string)):
        return None
    return int(match.group(1))


def span_value(span, begin, end) -> str | None:
    """The value of a date-grouped task for one span: "BEGIN/END" (years; "?" for a bound that is
    missing or not a date), or the span's IRI when it has no bounds at all (a group's time-span
    that a curator accepted), or None for a blank span without bounds."""
    b, e = literal_year(begin), literal_year(end)
    if b is None and e is None:
        return str(span) if isinstance(span, URIRef) else ("?/?" if span is not None else None)
    return f"{'?' if b is None else b}/{'?' if e is None else e}"


def feature_value(term) -> str | None:
    """A feature's value as the tabular model reads it: an IRI, a number, a date's year, or the text."""
    if isinstance(term, URIRef):
        return str(term)
    if isinstance(term, BNode) or term is None:
        return None
    if isinstance(term, Literal):
        datatype = str(term.datatype) if term.datatype is not None else ""
        if datatype in _DATE_TYPES:
            year = literal_year(term)
            return None if year is None else str(year)
        if datatype in _NUMBER_TYPES:
            try:
                return repr(float(str(term))) if datatype in (str(XSD.double), str(XSD.float), str(XSD.decimal)) \
                    else str(int(str(term)))
            except ValueError:
                return None
        text = " ".join(str(term).split())
        return text or None
    return None


def text_language(literal, language) -> str:
    """The language of a text: its literal's tag, else the language the input's path gave (a code or an IRI)."""
    if isinstance(literal, Literal) and literal.language:
        return literal.language.lower()
    if isinstance(language, Literal):
        return str(language).strip().lower()
    if isinstance(language, URIRef):
        return str(language).rstrip("/#").rsplit("/", 1)[-1].rsplit("#", 1)[-1]
    return ""

