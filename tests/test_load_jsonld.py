"""JSON-LD in, offline (issue 18 item 4): contexts never fetched, the fast converter checked against
pyoxigraph's JSON-LD 1.1 processor, and the Tate samples giving the triples of tate.nq.gz."""

from __future__ import annotations

import collections
import gzip
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pyoxigraph as ox
import pytest

from kgenrich.errors import LoadError
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.store.jsonld import ContextStore, Converter, JsonLdReader, same_graph
from kgenrich.store.loading import LoadOptions, Source

ROOT = Path(__file__).resolve().parent.parent
TATE = ROOT.parent / "shared" / "data" / "tate"
TATE_GRAPH = "https://collection.tate.org.uk/graph"
LINKED_ART = "https://linked.art/ns/v1/linked-art.json"
EX = "http://example.org/jsonld/"

LINKED_ART_DOC = {
    "@context": LINKED_ART,
    "id": f"{EX}object/1",
    "type": "HumanMadeObject",
    "_label": "A bowl",
    "identified_by": [{"type": "Name", "content": "A bowl",
                       "classified_as": [{"id": "http://vocab.getty.edu/aat/300404670", "type": "Type",
                                          "_label": "Primary Name"}]}],
    "produced_by": {"id": f"{EX}object/1/production", "type": "Production",
                    "timespan": {"type": "TimeSpan", "begin_of_the_begin": "1850-01-01T00:00:00Z",
                                 "end_of_the_end": "1859-12-31T23:59:59Z"},
                    "part": [{"type": "Production", "carried_out_by": [{"id": f"{EX}person/2", "type": "Person"}]}]},
    "dimension": [{"type": "Dimension", "value": 419.0, "unit": {"id": "http://vocab.getty.edu/aat/300379098",
                                                                   "type": "MeasurementUnit"}},
                  {"type": "Dimension", "value": 10.5}],
    "member_of": [{"id": f"{EX}set/a", "type": "Set"}],
}


def write(path: Path, document) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


def cli(args, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGENRICH_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "kgenrich", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection or resolve a name fails the test."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError(f"a network connection was attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


# ------------------------------------------------------------------ contexts, offline
def test_linked_art_loads_offline_from_the_shipped_context(tmp_path, no_network):
    path = write(tmp_path / "docs" / "one.json", LINKED_ART_DOC)
    store = EmbeddedStore(None)
    run = store.load_files([path], graph=f"{EX}graph", options=LoadOptions())
    assert run.added == run.statements > 20 and not no_network
    quads = {str(q) for q in store.oxigraph}
    assert (f"<{EX}object/1> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
            f"<http://www.cidoc-crm.org/cidoc-crm/E22_Human-Made_Object> <{EX}graph>") in quads
    assert any("P82a_begin_of_the_begin" in q and "dateTime" in q for q in quads)
    # The type-scoped context of Production: its "part" is P9_consists_of, not the object's P46.
    assert any(f"<{EX}object/1/production> <http://www.cidoc-crm.org/cidoc-crm/P9_consists_of>" in q for q in quads)


def test_a_context_that_cannot_be_had_offline_is_one_error_naming_it(tmp_path):
    write(tmp_path / "doc.jsonld", {"@context": "https://example.org/nowhere/context.jsonld", "@id": f"{EX}a",
                                    f"{EX}p": "x"})
    result = cli(["--store", "store", "load", "--graph", f"{EX}g", "doc.jsonld"], tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: doc.jsonld: the JSON-LD context https://example.org/nowhere/context"
                                    ".jsonld cannot be had offline")


def test_per_file_errors_never_print_the_credentials_of_a_url(tmp_path):
    # Several failed files are reported one line each; a URL with user-info in one of them is masked.
    secret_url = "http://user:secret@host.invalid/ctx/context.jsonld"
    for name in ("one.jsonld", "two.jsonld"):
        write(tmp_path / name, {"@context": secret_url, "@id": f"{EX}a", f"{EX}p": "x"})
    (tmp_path / "three.nt").write_text(f'<{secret_url}> <{EX}p> "x" \n')
    result = cli(["--store", "store", "load", "--graph", f"{EX}g", "one.jsonld", "two.jsonld", "three.nt"], tmp_path)
    assert result.returncode == 2, result.stderr
    assert "secret" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert [line.split(":")[1].strip() for line in lines[:3]] == ["one.jsonld", "two.jsonld", "three.nt"]
    assert "http://***@host.invalid/ctx/context.jsonld cannot be had offline" in lines[0]
    assert lines[3:] == ["error: nothing was loaded (3 files failed the check; a load is all or nothing)"]


def test_contexts_come_from_the_configured_directory(tmp_path, no_network):
    contexts = tmp_path / "contexts"
    write(contexts / "example.org" / "ns" / "ctx.json",
          {"@context": {"ex": EX, "title": "ex:title", "link": {"@id": "ex:link", "@type": "@id"}}})
    path = write(tmp_path / "doc.json", {"@context": "https://example.org/ns/ctx.json", "@id": f"{EX}a",
                                         "title": "T", "link": f"{EX}b"})
    store = EmbeddedStore(None)
    store.load_files([path], graph=f"{EX}g", options=LoadOptions(jsonld_contexts=str(contexts)))
    assert {str(q) for q in store.oxigraph} == {f'<{EX}a> <{EX}title> "T" <{EX}g>', f"<{EX}a> <{EX}link> <{EX}b> <{EX}g>"}
    # The directory's copy wins over the shipped one, and a setting that names no copy is an error naming the path.
    with pytest.raises(LoadError, match=r"cannot be had offline .*put a copy at .*example.org/ns/other.json"):
        EmbeddedStore(None).load_files([write(tmp_path / "other.json", {"@context": "https://example.org/ns/other.json"})],
                                       graph=f"{EX}g", options=LoadOptions(jsonld_contexts=str(contexts)))


def test_json_ld_needs_a_graph_and_bad_json_names_line_and_column(tmp_path):
    write(tmp_path / "doc.json", LINKED_ART_DOC)
    result = cli(["--store", "store", "load", "doc.json"], tmp_path)
    assert result.returncode == 2 and "doc.json: JSON-LD documents name no graph: give --graph IRI" in result.stderr
    (tmp_path / "bad.jsonld.gz").write_bytes(gzip.compress(b'{"@context": "x",\n  "id": }'))
    result = cli(["--store", "store", "load", "--graph", f"{EX}g", "bad.jsonld.gz"], tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: bad.jsonld.gz: line 2, column 9: not valid JSON")


# ------------------------------------------------------------------ the converter against the reference
CASES = {
    "vocab-and-compact-iris": {"@context": {"@vocab": EX, "x": "http://example.org/x#", "n": {"@type": "xsd:integer"},
                                            "xsd": "http://www.w3.org/2001/XMLSchema#"},
                               "@id": "x:a", "@type": ["Thing", "x:Other"], "name": "A", "x:code": "c", "n": "5"},
    "language-and-containers": {"@context": {"@language": "fr", "ex": EX, "label": "ex:label",
                                             "alt": {"@id": "ex:alt", "@container": "@language"},
                                             "steps": {"@id": "ex:steps", "@container": "@list"},
                                             "en": {"@id": "ex:en", "@language": "en"}, "plain": {"@id": "ex:plain",
                                                                                                 "@language": None}},
                                "@id": f"{EX}b", "label": "étiquette", "en": "label", "plain": "p",
                                "alt": {"es": "etiqueta", "it": ["a", "b"]}, "steps": ["one", {"@id": f"{EX}two"}, 3]},
    "values-and-natives": {"@context": {"ex": EX}, "@id": f"{EX}c",
                           "ex:v": [{"@value": "2020", "@type": "http://www.w3.org/2001/XMLSchema#gYear"},
                                    {"@value": "hola", "@language": "es"}, True, 12, 1.5, -0.25, 1e22, None],
                           "ex:l": {"@list": []}, "ex:s": {"@set": ["s1", "s2"]}},
    "blank-nodes": {"@context": {"ex": EX, "knows": {"@id": "ex:knows", "@type": "@id"}},
                    "@graph": [{"@id": "_:p1", "knows": "_:p2", "ex:n": "one"},
                               {"@id": "_:p2", "knows": "_:p1", "ex:n": "two"}, {"ex:n": "anonymous"}]},
    "type-scoped": {"@context": {"ex": EX, "id": "@id", "type": "@type",
                                 "Box": {"@id": "ex:Box", "@context": {"part": {"@id": "ex:boxPart", "@type": "@id"}}},
                                 "part": {"@id": "ex:part", "@type": "@id"}},
                    "id": f"{EX}d", "type": "Box", "part": f"{EX}e",
                    "ex:inside": {"id": f"{EX}f", "part": f"{EX}g"}},
    "array-of-nodes": [{"@context": {"ex": EX}, "@id": f"{EX}h", "ex:p": "1"},
                       {"@context": {"ex": EX}, "@id": f"{EX}i", "ex:p": "2"}],
    "linked-art": LINKED_ART_DOC,
    # Beyond the fast converter: each goes to pyoxigraph's processor, and still loads exactly.
    "reverse": {"@context": {"ex": EX, "partOf": {"@reverse": "ex:hasPart"}}, "@id": f"{EX}j",
                "partOf": {"@id": f"{EX}k"}},
    "relative-iri": {"@context": {"ex": EX}, "@id": "relative/thing", "ex:p": "x"},
    "named-graph": {"@context": {"ex": EX}, "@id": f"{EX}graph2", "@graph": [{"@id": f"{EX}l", "ex:p": "y"}]},
}
UNSUPPORTED = {"reverse", "relative-iri", "named-graph"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_converter_reads_as_the_reference_processor_does(tmp_path, name):
    reader = JsonLdReader()
    base = (tmp_path / "doc.jsonld").resolve().as_uri()
    reference = reader.reference(CASES[name], base)
    assert reference, name
    source = Source(write(tmp_path / "doc.jsonld", CASES[name]), "jsonld", 0)
    quads = list(reader.quads(source))
    assert same_graph(quads, reference), name
    assert (str(source.path) in reader.fallbacks) == (name in UNSUPPORTED)


def test_each_context_is_processed_once_per_run(monkeypatch):
    converter = Converter(ContextStore())
    calls = []
    original = converter._process

    def counting(active, local, propagate, depth):
        calls.append(local)
        return original(active, local, propagate, depth)

    monkeypatch.setattr(converter, "_process", counting)

    def convert(numbers):
        for i in numbers:
            document = json.loads(json.dumps(LINKED_ART_DOC).replace("object/1", f"object/{i}"))
            converter.document(document, f"file:///d/{i}.json", f"d{i}_")

    convert(range(1))
    first = len(calls)
    assert calls[0] == LINKED_ART and first < 12
    convert(range(1, 100))  # 99 more documents: no context processed again
    assert len(calls) == first


def test_a_converter_that_disagrees_sends_the_run_to_the_reference_processor(tmp_path, monkeypatch):
    paths = [write(tmp_path / "docs" / f"{i}.json", json.loads(json.dumps(LINKED_ART_DOC).replace("object/1",
                                                                                                  f"object/{i}")))
             for i in range(5)]
    original = Converter.document

    def lossy(self, document, base, scope):
        return original(self, document, base, scope)[1:]  # drops a triple

    monkeypatch.setattr(Converter, "document", lossy)
    store = EmbeddedStore(None)
    run = store.load_files([tmp_path / "docs"], graph=f"{EX}g", options=LoadOptions())
    assert run.notes and "went through pyoxigraph's" in run.notes[0]
    expected = [q for p in paths for q in JsonLdReader().reference(json.loads(p.read_text()), p.as_uri())]
    assert run.added == len(set(expected))


def test_blank_nodes_of_two_documents_never_merge(tmp_path):
    doc = {"@context": {"ex": EX}, "@id": "_:b1", "ex:p": "same label in both files"}
    a, b = write(tmp_path / "a.jsonld", doc), write(tmp_path / "b.jsonld", doc)
    store = EmbeddedStore(None)
    store.load_files([a, b], graph=f"{EX}g", options=LoadOptions())
    assert len({q.subject for q in store.oxigraph}) == 2


# ------------------------------------------------------------------ the Tate samples against tate.nq.gz
def _closure(index: dict, root: ox.NamedNode) -> set:
    """The quads of an object as a museum document describes it: the object, the IRIs minted below it
    (its production, its visual item), and every blank node reached from them."""
    prefix = root.value + "/"
    todo = [s for s in index if s == root or (type(s) is ox.NamedNode and s.value.startswith(prefix))]
    out, seen = set(), set()
    while todo:
        subject = todo.pop()
        if subject in seen:
            continue
        seen.add(subject)
        for q in index.get(subject, ()):
            out.add(q)
            if type(q.object) is ox.BlankNode:
                todo.append(q.object)
    return out


def _canonical(quads) -> set:
    dataset = ox.Dataset(quads)
    dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
    return {str(q) for q in dataset}


@pytest.mark.slow
def test_the_tate_samples_give_the_triples_of_the_nquads(no_network):
    samples = TATE / "jsonld-sample"
    if not (TATE / "tate.nq.gz").is_file() or not samples.is_dir():
        pytest.skip(f"Tate data not found at {TATE} (only present beside the project checkout on CI and dev machines)")
    store = EmbeddedStore(None)
    run = store.load_files([samples], graph=TATE_GRAPH, options=LoadOptions())
    assert len(run.files) == 200 and not run.notes and not no_network
    loaded = list(store.oxigraph)
    subjects = {q.subject for q in loaded if type(q.subject) is ox.NamedNode}
    # One pass over the N-Quads: the quads of those subjects and the blank nodes they reach.  The dump writes
    # a blank node's quads just before the quad that links it, so recent ones are kept until claimed.
    kept, wanted, recent = [], set(), collections.OrderedDict()

    def take(q):
        kept.append(q)
        if type(q.object) is ox.BlankNode:
            found = recent.pop(q.object.value, None)
            if found is None:
                wanted.add(q.object.value)
            for r in found or ():
                take(r)

    with gzip.open(TATE / "tate.nq.gz", "rb") as fh:
        for q in ox.parse(fh, format=ox.RdfFormat.N_QUADS):
            s = q.subject
            if type(s) is ox.BlankNode:
                if s.value in wanted:
                    take(q)
                    continue
                bucket = recent.get(s.value)
                if bucket is None:
                    recent[s.value] = [q]
                    if len(recent) > 20_000:
                        recent.popitem(last=False)
                else:
                    bucket.append(q)
            elif s in subjects:
                take(q)
    assert not wanted - {q.subject.value for q in kept if type(q.subject) is ox.BlankNode}
    dump = set(kept)
    # Every ground quad of the documents is in the dump ...
    ground = {q for q in loaded if type(q.subject) is not ox.BlankNode and type(q.object) is not ox.BlankNode}
    assert ground <= dump
    # ... and each object is the same, blank nodes up to renaming.
    index_loaded, index_dump = collections.defaultdict(set), collections.defaultdict(set)
    for q in loaded:
        index_loaded[q.subject].add(q)
    for q in dump:
        index_dump[q.subject].add(q)
    covered = set(ground)
    for path in sorted(samples.glob("*.json")):
        root = ox.NamedNode(json.loads(path.read_text())["id"])
        mine = _closure(index_loaded, root)
        assert mine and _canonical(mine) == _canonical(_closure(index_dump, root)), path.name
        covered |= mine
    assert covered == set(loaded)  # nothing of the documents left out of the comparison
