"""Values reach SPARQL only as serialised RDF terms: nothing can break or inject a query."""

import pytest
from rdflib import Literal, URIRef
from rdflib.namespace import XSD

from kgenrich import sparql
from kgenrich.errors import KgenrichError
from kgenrich.sparql import TripleBlock, UnsafeTerm, bind, serialize_term
from kgenrich.store.embedded import EmbeddedStore

NASTY = [
    'plain',
    'with "double" quotes',
    "with 'single' quotes",
    "ends with backslash \\",
    "new\nline and\r\ncarriage\treturn",
    'closing > and <tag> and } { and ; DROP ALL ; #',
    '" } ; DROP ALL ; INSERT DATA { <http://evil> <http://evil> "x" } #',
    "unicode: seda, soie, 絹, émoji 🧵, $notaplaceholder",
]


@pytest.mark.parametrize("text", NASTY)
def test_literal_round_trips_through_a_real_store(text):
    store = EmbeddedStore()
    store.load_bytes(
        ("<http://x/s> <http://x/p> " + serialize_term(Literal(text, lang="es")) + " .").encode(), "ntriples",
        graph=URIRef("http://x/g"))
    query = bind("SELECT ?s WHERE { GRAPH ?g { ?s <http://x/p> $label } }", {"label": Literal(text, lang="es")})
    assert store.select(query) == [{"s": URIRef("http://x/s")}]
    # The injection attempts did not run: the one triple is still there and nothing else.
    assert len(store) == 1


def test_typed_and_plain_literals():
    assert serialize_term(Literal("0.5", datatype=XSD.float)) == '"0.5"^^<http://www.w3.org/2001/XMLSchema#float>'
    assert serialize_term(Literal("a")) == '"a"'


@pytest.mark.parametrize("bad", ["http://x/a b", "http://x/a>b", 'http://x/"', "http://x/{}", "", "http://x/\n"])
def test_invalid_iris_are_refused(bad):
    with pytest.raises(UnsafeTerm):
        serialize_term(URIRef(bad))


def test_bad_language_tag_is_refused():
    # rdflib refuses it when the literal is made; our serialiser would refuse it too.
    with pytest.raises((UnsafeTerm, ValueError)):
        serialize_term(Literal("x", lang="en> ."))


def test_placeholders_inside_bound_values_are_not_substituted_again():
    out = bind("SELECT * { ?s ?p $a . ?s ?q $b }", {"a": Literal("$b"), "b": URIRef("http://x/b")})
    assert out == 'SELECT * { ?s ?p "$b" . ?s ?q <http://x/b> }'


def test_missing_binding_is_an_error_not_a_variable():
    with pytest.raises(KgenrichError, match="needs values for: graph"):
        sparql.prepare("drop_graph")


def test_plain_strings_and_negative_limits_are_refused():
    with pytest.raises(UnsafeTerm):
        bind("SELECT * { ?s ?p $x }", {"x": "http://x"})
    with pytest.raises(UnsafeTerm):
        bind("SELECT * { ?s ?p ?o } LIMIT $n", {"n": -1})


def test_lists_and_triple_blocks():
    out = bind("VALUES ?x { $xs }", {"xs": [URIRef("http://x/1"), Literal('q"')]})
    assert out == 'VALUES ?x { <http://x/1> "q\\"" }'
    block = bind("$t", {"t": TripleBlock([(URIRef("http://x/s"), URIRef("http://x/p"), Literal("a\nb"))])})
    assert block == '<http://x/s> <http://x/p> "a\\nb" .'
    assert bind("VALUES ?x { $xs }", {"xs": []}) == "VALUES ?x {  }"
