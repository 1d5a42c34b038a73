"""A corpus of broken RDF through `load`, on the embedded store and on an Oxigraph server.

Every case ends in one of two ways: one error of one line naming the file (and
the line, where the parser knows it) with the store exactly as it was, or a
load of exactly what the file says.  The corpus is generated from one small
valid document in every format: truncations at every 7th byte, seeded byte
flips, wrong encodings, byte order marks, a huge literal, relative IRIs, and
all of it gzipped too.  Most cases go through the library API; a sample goes
through the command line.
"""

from __future__ import annotations

import codecs
import gzip
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox
import pytest
from helpers import MINI
from rdflib import URIRef

from kgenrich.errors import KgenrichError, LoadError
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.store.rdfio import FORMAT_NAMES, OX_FORMATS, prepare
from kgenrich.store.remote import RemoteStore
from kgenrich.store.terms import to_oxigraph

SEED = 12
SUFFIX = {"turtle": ".ttl", "trig": ".trig", "ntriples": ".nt", "nquads": ".nq", "rdfxml": ".rdf"}
TRIPLE_FORMATS = ("turtle", "ntriples", "rdfxml")
TARGET = URIRef("http://example.org/corpus/graph")

SOURCE = """\
@prefix ex: <http://example.org/corpus/> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
ex:a ex:label "Damasco \\"Valencia\\" > 1700\\nsegunda línea"@es ;
     ex:count "12"^^xsd:integer ;
     ex:weight "3.5"^^xsd:decimal ;
     ex:link ex:b , ex:c .
ex:b ex:note "plain" ; ex:part [ ex:value "inner" ] .
ex:c a ex:Thing ; ex:title "Ω unicode ☃"@en-GB .
"""


def documents() -> dict[str, bytes]:
    """The valid document in every format (quad formats with two named graphs)."""
    triples = list(ox.parse(SOURCE.encode("utf-8"), format=ox.RdfFormat.TURTLE))
    out = {fmt: ox.serialize(triples, format=OX_FORMATS[fmt]) for fmt in TRIPLE_FORMATS}
    quads = [ox.Quad(t.subject, t.predicate, t.object,
                     ox.NamedNode(f"http://example.org/corpus/g{i % 2}")) for i, t in enumerate(triples)]
    for fmt in ("trig", "nquads"):
        out[fmt] = ox.serialize(quads, format=OX_FORMATS[fmt])
    return out


@dataclass
class Case:
    name: str
    fmt: str
    data: bytes
    gz: bool = False

    @property
    def filename(self) -> str:
        return self.name.replace("/", "-") + SUFFIX[self.fmt] + (".gz" if self.gz else "")


def corpus() -> list[Case]:
    rng = random.Random(SEED)
    cases: list[Case] = []
    for fmt, doc in documents().items():
        cases += [Case(f"{fmt}/valid", fmt, doc), Case(f"{fmt}/valid", fmt, gzip.compress(doc), gz=True)]
        cases += [Case(f"{fmt}/cut{n}", fmt, doc[:n]) for n in range(0, len(doc), 7)]
        for _i in range(12):
            flipped = bytearray(doc)
            at = rng.randrange(len(doc))
            flipped[at] ^= 1 << rng.randrange(8)
            cases.append(Case(f"{fmt}/flip{at}", fmt, bytes(flipped)))
        text = doc.decode("utf-8")
        cases += [
            Case(f"{fmt}/bom-utf8", fmt, codecs.BOM_UTF8 + doc),
            Case(f"{fmt}/utf16-bom", fmt, text.encode("utf-16")),
            Case(f"{fmt}/utf16-no-bom", fmt, text.encode("utf-16-le")),
            Case(f"{fmt}/latin1", fmt, text.encode("latin-1", errors="replace")),
        ]
        compressed = gzip.compress(doc)
        cases += [Case(f"{fmt}/gzcut{n}", fmt, compressed[:n], gz=True) for n in range(2, len(compressed), 7 * 4)]
        for _i in range(4):
            flipped = bytearray(compressed)
            at = rng.randrange(10, len(compressed))
            flipped[at] ^= 0xFF
            cases.append(Case(f"{fmt}/gzflip{at}", fmt, bytes(flipped), gz=True))
    huge = "x" * 3_000_000
    cases += [
        Case("turtle/huge-literal", "turtle",
             f'<http://example.org/corpus/h> <http://example.org/corpus/p> "{huge}" .\n'.encode()),
        Case("turtle/relative-iris", "turtle", b'<rel/a> <http://example.org/corpus/p> <../b> .\n'),
        Case("ntriples/relative-iris", "ntriples", b'<rel/a> <http://example.org/corpus/p> <b> .\n'),
        Case("rdfxml/latin1-declared", "rdfxml", (
            '<?xml version="1.0" encoding="ISO-8859-1"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
            'syntax-ns#" xmlns:ex="http://example.org/corpus/">\n<rdf:Description rdf:about="http://example.org/'
            'corpus/x"><ex:p>café</ex:p></rdf:Description>\n</rdf:RDF>\n').encode("latin-1")),
        Case("rdfxml/no-namespace", "rdfxml", b'<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/'
             b'02/22-rdf-syntax-ns#">\n<rdf:Description rdf:about="http://x/a"><foo>1</foo></rdf:Description>\n'
             b'</rdf:RDF>\n'),
    ]
    return cases


CORPUS = corpus()


def expected_quads(case: Case, graph: URIRef | None, path: Path | None = None) -> set | None:
    """What the file says, read by the reference parser on the prepared bytes; None when it does not parse."""
    try:
        data = prepare(case.data, case.fmt)
        base = path.resolve().as_uri() if path else "file:///corpus/" + case.filename
        quads = list(ox.parse(data, format=OX_FORMATS[case.fmt], base_iri=base))
    except (SyntaxError, LoadError, ValueError):
        return None
    out, distinct = set(), set()
    for q in quads:
        g = q.graph_name if graph is None or case.fmt in ("trig", "nquads") else ox.NamedNode(str(graph))
        out.add(tuple(_norm(t) for t in (q.subject, q.predicate, q.object, g)))
        distinct.add((str(q.subject), str(q.predicate), str(q.object), str(g)))
    return Expected(out, len(distinct))


class Expected(set):
    """The quads a file holds (blank nodes as "_:b"), and how many distinct quads that is."""

    def __init__(self, quads, distinct: int):
        super().__init__(quads)
        self.distinct = distinct


def _norm(term) -> str:
    # Blank node labels differ per parse and per store: compare them as "a blank node".
    return "_:b" if isinstance(term, ox.BlankNode) else str(term)


def check_error(case: Case, message: str, path: Path) -> None:
    assert "\n" not in message, (case.name, message)
    assert str(path) in message or path.name in message, (case.name, message)
    assert "b'" not in message and 'b"' not in message, (case.name, message)
    positionless = case.gz or case.fmt == "rdfxml" or "byte order mark" in message or "encoding" in message
    if not positionless:
        assert "line " in message, (case.name, message)


# ------------------------------------------------------------------ the embedded store, every case
CORPUS_GRAPHS = [TARGET, URIRef("http://example.org/corpus/g0"), URIRef("http://example.org/corpus/g1")]


def _corpus_quads(store, expected: set) -> set:
    """What the store holds in the graphs a corpus file may write to (a flipped byte may name another)."""
    graphs = set(CORPUS_GRAPHS) | {URIRef(q[3].strip("<>")) for q in expected}
    return {tuple(_norm(to_oxigraph(t)) for t in (s, p, o, g)) for g in graphs for s, p, o in
            store.graph_triples(g)}


def _undo(store, expected: set) -> None:
    for graph in {q[3] for q in expected}:
        store.drop_graph(URIRef(graph.strip("<>")))


def test_corpus_on_the_embedded_store(tmp_path):
    store = EmbeddedStore(tmp_path / "store")
    store.load_file(MINI)
    base_count = len(store)
    outcomes = {"loaded": 0, "refused": 0}
    for i, case in enumerate(CORPUS):
        path = tmp_path / "files" / f"{i}-{case.filename}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(case.data)
        graph = TARGET if case.fmt in TRIPLE_FORMATS else None
        expected = expected_quads(case, graph, path)
        try:
            store.load_file(path, graph=graph)
        except KgenrichError as exc:
            check_error(case, str(exc), path)
            assert expected is None, f"{case.name}: refused a file the parser reads ({exc})"
            assert len(store) == base_count, f"{case.name}: a failed load changed the store"
            outcomes["refused"] += 1
            continue
        assert expected is not None, f"{case.name}: loaded a file the parser refuses"
        assert _corpus_quads(store, expected) == expected, case.name
        assert len(store) == base_count + expected.distinct, case.name
        outcomes["loaded"] += 1
        _undo(store, expected)  # every case starts from the same store
        assert len(store) == base_count
    store.close()
    # The corpus exercises both outcomes in quantity (a corpus of only failures would test little).
    assert outcomes["loaded"] >= 40 and outcomes["refused"] >= 300, outcomes


# ------------------------------------------------------------------ an Oxigraph server, a seeded sample
def _count(store: RemoteStore) -> int:
    return int(store.select("SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }")[0]["n"])


@pytest.mark.server
@pytest.mark.parametrize("gsp", [False, True], ids=["update", "graph-store"])
def test_corpus_on_an_oxigraph_server(oxigraph, tmp_path, gsp):
    store = RemoteStore(oxigraph.query, update_endpoint=oxigraph.update, gsp_endpoint=oxigraph.gsp if gsp else None,
                        retries=1, batch_triples=4)
    store.load_file(MINI)
    base_count = _count(store)
    rng = random.Random(SEED + gsp)
    # Every case that parses (they cost requests), and a seeded third of those that do not.
    sample = [c for c in CORPUS if expected_quads(c, None) is not None or rng.random() < 0.33]
    sample = [c for c in sample if "huge" not in c.name or not gsp]
    loaded = refused = 0
    for i, case in enumerate(sample):
        path = tmp_path / "files" / f"{i}-{case.filename}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(case.data)
        graph = TARGET if case.fmt in TRIPLE_FORMATS else None
        expected = expected_quads(case, graph, path)
        try:
            store.load_file(path, graph=graph, staging="http://example.org/corpus/staging/")
        except KgenrichError as exc:
            check_error(case, str(exc), path)
            assert expected is None, f"{case.name}: refused a file the parser reads ({exc})"
            assert _count(store) == base_count, f"{case.name}: a failed load changed the store"
            refused += 1
            continue
        assert expected is not None, f"{case.name}: loaded a file the parser refuses"
        assert _corpus_quads(store, expected) == expected, case.name
        assert _count(store) == base_count + expected.distinct, case.name
        assert not any("staging" in str(g) for g in store.graph_names()), case.name
        loaded += 1
        _undo(store, expected)
        assert _count(store) == base_count
    assert loaded >= 40 and refused >= 60, (loaded, refused)


# ------------------------------------------------------------------ the command line, a sample
CLI_SAMPLE = ["turtle/cut35", "rdfxml/cut70", "ntriples/gzflip", "turtle/utf16-bom", "nquads/flip", "trig/valid"]


def test_a_sample_through_the_command_line(tmp_path):
    picked = []
    for prefix in CLI_SAMPLE:
        picked.append(next(c for c in CORPUS if c.name.startswith(prefix)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGENRICH_")}
    for i, case in enumerate(picked):
        store_dir = tmp_path / f"store{i}"
        EmbeddedStore(store_dir).close()
        path = tmp_path / f"{i}-{case.filename}"
        path.write_bytes(case.data)
        args = [sys.executable, "-m", "kgenrich", "--store", str(store_dir), "load", str(path)]
        if case.fmt in TRIPLE_FORMATS:
            args += ["--graph", str(TARGET)]
        result = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
        expected = expected_quads(case, TARGET if case.fmt in TRIPLE_FORMATS else None)
        if expected is None:
            assert result.returncode == 2, (case.name, result.stderr)
            assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, (case.name, result.stderr)
            check_error(case, result.stderr.strip(), path)
        else:
            assert result.returncode == 0 and f"loaded {expected.distinct} quads" in result.stdout, (case.name, result)


def test_the_corpus_names_what_it_covers():
    names = {c.name.split("/")[1] for c in CORPUS}
    for kind in ("valid", "cut0", "bom-utf8", "utf16-bom", "latin1", "huge-literal", "relative-iris",
                 "latin1-declared", "no-namespace"):
        assert kind in names
    assert {c.fmt for c in CORPUS} == set(FORMAT_NAMES) and any(c.gz for c in CORPUS)
