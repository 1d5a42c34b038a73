"""Values bound into SPARQL, tried by Hypothesis on both engines (embedded pyoxigraph, an Oxigraph server).

For any label, IRI or language tag -- quotes, ``>``, ``\\``, newlines, ``}``,
``$name``, unicode -- binding it either refuses the value by name
(:class:`~kgenrich.sparql.UnsafeTerm`: an IRI that is not absolute, a malformed
language tag) or gives a query that returns exactly the bound value and
matches exactly the stored one.  A read never changes the store: the quad count
is the same after every query, and a store opened read-only refuses writes
before sending them.  Seeded (derandomized) and bounded.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdflib import Literal, URIRef

from kgenrich import sparql
from kgenrich.errors import StoreError
from kgenrich.sparql import UnsafeTerm
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.store.remote import RemoteStore

P = URIRef("http://example.org/bound/p")
XSD_INTEGER = URIRef("http://www.w3.org/2001/XMLSchema#integer")
G = URIRef("http://example.org/bound/graph")
PROPERTY_SETTINGS = settings(max_examples=200, derandomize=True, database=None, deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

NASTY = ['"', "'", '"""', "'''", ">", "<", "\\", "\\n", "\n", "\r", "\t", "}", "{", "} ; DROP ALL ; SELECT * {",
         "$value", "?v", "#", "^^", "@en", "\u2028", "\u00e9", "\U0001F600", "\x00", "\x7f", " . } } ; CLEAR ALL #"]
characters = st.characters(blacklist_categories=("Cs",))
texts = st.lists(st.one_of(st.sampled_from(NASTY), st.text(characters, max_size=6)), max_size=8).map("".join)
language_tags = st.one_of(
    st.from_regex(r"\A[A-Za-z]{1,9}(-[A-Za-z0-9]{1,9}){0,3}\Z"),
    st.sampled_from(["en", "en-GB", "es", "ca-valencia", "de-CH-1901", "zh-Hant-TW", 'en"', "en>", "e n", "en\n",
                     "en}", "", "x", "en-"]),
    texts)
iris = st.one_of(
    st.builds(lambda tail: "http://example.org/" + tail, texts),
    st.sampled_from(["relative", "../up", "urn:x:1", "http://x/%zz", "http://x/a>b", "mailto:a@b.org",
                     "http://[::1]/q", "http://example.org/é", "file:///tmp/a b"]),
    texts)


def rdflib_takes_tag(tag: str) -> bool:
    """rdflib refuses some tags itself (Literal raises); those never reach kgenrich."""
    try:
        Literal("x", lang=tag)
        return True
    except Exception:
        return False


literals = st.one_of(
    st.builds(Literal, texts),
    st.builds(lambda text, tag: Literal(text, lang=tag), texts, language_tags.filter(rdflib_takes_tag)),
    st.builds(lambda n: Literal(str(n), datatype=XSD_INTEGER), st.integers(-10**12, 10**12)),
)
terms = st.one_of(literals, st.builds(URIRef, iris))


def same_term(a, b) -> bool:
    """RDF term equality; language tags compare case-insensitively (stores may lower-case them)."""
    if isinstance(a, Literal) and isinstance(b, Literal):
        return (str(a) == str(b) and (a.language or "").lower() == (b.language or "").lower()
                and a.datatype == b.datatype)
    return type(a) is type(b) and str(a) == str(b)


# ------------------------------------------------------------------ the two engines
@pytest.fixture(params=["embedded", "oxigraph-server"])
def engine(request, tmp_path):
    if request.param == "embedded":
        store = EmbeddedStore(tmp_path / "store")
        yield store
        store.close()
        return
    server = request.getfixturevalue("oxigraph")
    store = RemoteStore(server.query, update_endpoint=server.update, retries=1)
    yield store
    store.close()


def count(store) -> int:
    return int(store.select("SELECT (COUNT(*) AS ?n) WHERE { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }")[0]["n"])


def test_a_bound_value_comes_back_exactly(engine):
    engine.stage_graph(G, [(URIRef("http://example.org/bound/s"), P, Literal("anchor"))])
    before = count(engine)

    @PROPERTY_SETTINGS
    @given(value=terms)
    def check(value):
        try:
            query = sparql.bind("SELECT ?v WHERE { BIND ($value AS ?v) }", {"value": value})
        except UnsafeTerm:
            assert isinstance(value, URIRef) or value.language, value  # only IRIs and tags are ever refused
            return
        rows = engine.select(query)
        assert len(rows) == 1 and same_term(rows[0]["v"], value), (value, rows)
        assert count(engine) == before

    check()


def test_a_stored_value_is_matched_exactly(engine):
    """Write a triple holding the value (INSERT DATA with the bound term), then find it by the bound value."""
    seen = []

    @PROPERTY_SETTINGS
    @given(value=terms)
    def check(value):
        subject = URIRef(f"http://example.org/bound/s{len(seen)}")
        seen.append(subject)
        try:
            engine.stage_graph(G, [(subject, P, value)])
        except UnsafeTerm:
            assert isinstance(value, URIRef) or value.language, value
            return
        before = count(engine)
        rows = engine.select(sparql.bind("SELECT ?s WHERE { GRAPH $g { ?s $p $value } }",
                                         {"g": G, "p": P, "value": value}))
        assert [r["s"] for r in rows] == [subject], (value, rows)
        assert engine.ask(sparql.bind("ASK { GRAPH $g { $s $p $value } }", {"g": G, "s": subject, "p": P,
                                                                             "value": value}))
        assert count(engine) == before

    check()


def test_a_read_only_store_refuses_every_write_before_sending_it(engine, tmp_path):
    engine.stage_graph(G, [(URIRef("http://example.org/bound/s"), P, Literal("kept"))])
    if isinstance(engine, EmbeddedStore):
        path = engine.path
        engine.close()
        reader = EmbeddedStore(path, read_only=True)
    else:
        reader = RemoteStore(engine.endpoint, update_endpoint=engine.update_endpoint, read_only=True)
    for write in (lambda: reader.update("CLEAR ALL"), lambda: reader.drop_graph(G),
                  lambda: reader.stage_graph(G, []),
                  lambda: reader.load_bytes(b"<http://a> <http://b> 1 .", "ntriples"),
                  lambda: reader.swap_graphs({G: URIRef("http://example.org/bound/other")})):
        with pytest.raises(StoreError, match="read-only"):
            write()
    assert [str(o) for _, _, o in reader.graph_triples(G)] == ["kept"]
    reader.close()
