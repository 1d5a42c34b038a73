"""The demo collection generator: graph shape, gaps, languages, images, determinism.

A small collection (150 artifacts) is generated once per module and read back
with SPARQL from an in-memory Oxigraph store, the way the agent reads it.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urlparse

import pyoxigraph as ox
import pytest
from PIL import Image

from kgenrich.demo import DemoCollection, generate
from kgenrich.demo.trig import TrigDocument, iri, literal

SIZE = 150
PREFIXES = """
PREFIX ecrm: <http://erlangen-crm.org/current/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX schema: <http://schema.org/>
PREFIX gn: <http://www.geonames.org/ontology#>
PREFIX time: <http://www.w3.org/2006/time#>
"""
VOCAB_GRAPH = "https://w3id.org/kgenrich/demo/graph/vocabulary"
# The task paths of ontology/profiles/silknow.ttl, from the artifact to the value.
TASK_PATHS = {
    "material": "?prod ecrm:P108_has_produced ?obj ; ecrm:P126_employed ?v .",
    "technique": "?prod ecrm:P108_has_produced ?obj ; ecrm:P32_used_general_technique ?v .",
    "place": "?prod ecrm:P108_has_produced ?obj ; ecrm:P8_took_place_on_or_within ?v .",
    "time": "?prod ecrm:P108_has_produced ?obj ; ecrm:P4_has_time-span ?ts . ?ts ecrm:P86_falls_within ?v .",
    "depiction": "?obj ecrm:P65_shows_visual_item ?v .",
}
CENTURIES = {f"http://vocab.getty.edu/aat/{n}" for n in range(300404509, 300404515)}
FACETS = {"material": "materials", "technique": "techniques", "depiction": "depiction"}


def _query(store: ox.Store, q: str) -> list[dict[str, str]]:
    # The union of all graphs as the default graph, as the agent's stores query.
    res = store.query(PREFIXES + q, use_default_graph_as_union=True)
    names = [v.value for v in res.variables]
    return [{n: (row[n].value if row[n] is not None else None) for n in names} for row in res]


def _load(coll: DemoCollection) -> ox.Store:
    store = ox.Store()
    for f in coll.rdf_files:
        store.load(path=str(f), format=ox.RdfFormat.TRIG)
    return store


def _digest(root: Path) -> dict[str, str]:
    """sha256 of every file under root, by relative path."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[DemoCollection, ox.Store]:
    coll = generate(tmp_path_factory.mktemp("demo"), size=SIZE, seed=0, progress=False)
    return coll, _load(coll)


def test_artifacts_spread_over_museum_graphs(demo):
    coll, store = demo
    rows = _query(store, """
        SELECT ?g (COUNT(DISTINCT ?obj) AS ?n) WHERE { GRAPH ?g { ?obj a ecrm:E22_Man-Made_Object } }
        GROUP BY ?g""")
    counts = {r["g"]: int(r["n"]) for r in rows}
    assert set(counts) == set(coll.museums)
    assert len(coll.museums) == 5
    assert all(g.startswith("http://data.silknow.org/graph/demo-") for g in counts)
    assert sum(counts.values()) == SIZE == coll.n_artifacts == len(coll.truth)
    assert min(counts.values()) >= 10
    # Each artifact has exactly one production, in its own museum graph.
    rows = _query(store, """
        SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?prod a ecrm:E12_Production ; ecrm:P108_has_produced ?obj .
                                                   ?obj a ecrm:E22_Man-Made_Object } }""")
    assert int(rows[0]["n"]) == SIZE


@pytest.mark.parametrize(
    "task,expected", [("material", 0.20), ("technique", 0.65), ("depiction", 0.50), ("place", 0.40), ("time", 0.50)]
)
def test_gap_shares_as_in_silknow(demo, task, expected):
    _, store = demo
    rows = _query(store, f"SELECT (COUNT(DISTINCT ?obj) AS ?n) WHERE {{ GRAPH ?g {{ {TASK_PATHS[task]} }} }}")
    missing = 1 - int(rows[0]["n"]) / SIZE
    assert abs(missing - expected) < 0.12, f"{task}: {missing:.2f} missing, expected about {expected}"


def test_descriptions_in_several_languages(demo):
    coll, store = demo
    res = store.query(PREFIXES + "SELECT ?g ?obj ?text WHERE { GRAPH ?g { ?obj ecrm:P3_has_note|rdfs:comment ?text } }")
    by_graph: dict[str, Counter] = {}
    described = set()
    n_texts = 0
    for row in res:
        n_texts += 1
        by_graph.setdefault(row["g"].value, Counter())[row["text"].language] += 1
        described.add(row["obj"].value)
        assert len(row["text"].value.split(". ")) >= 2  # several sentences
    langs = Counter()
    for c in by_graph.values():
        langs.update(c)
    assert set(langs) == {"en", "es", "fr", "it", "ca"}
    # Each museum writes mostly in its own language.
    for g, c in by_graph.items():
        assert c.most_common(1)[0][1] / sum(c.values()) > 0.7, g
    no_text = 1 - len(described) / SIZE
    assert 0.03 < no_text < 0.35
    assert n_texts > len(described)  # some artifacts have descriptions in two languages


def test_texts_agree_with_the_hidden_truth(demo):
    """A place or a century a description names is the artifact's true one."""
    coll, store = demo
    vocab = _query(store, f"""
        SELECT ?code ?label WHERE {{ GRAPH <{VOCAB_GRAPH}> {{
          ?f gn:countryCode ?code ; gn:alternateName ?label . }} }}""")
    centuries = _query(store, f"""
        SELECT ?c ?label WHERE {{ GRAPH <{VOCAB_GRAPH}> {{ ?c a time:TimeInterval ; skos:prefLabel ?label }} }}""")
    place_words: dict[str, set[str]] = {}
    for r in vocab:
        place_words.setdefault(r["code"], set()).add(r["label"])
    century_words: dict[str, set[str]] = {}
    for r in centuries:
        century_words.setdefault("aat:" + r["c"].rsplit("/", 1)[1], set()).add(r["label"])

    def names(text: str, word: str) -> bool:
        return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text) is not None

    texts = _query(store, "SELECT ?obj ?text WHERE { GRAPH ?g { ?obj ecrm:P3_has_note|rdfs:comment ?text } }")
    checked = 0
    for r in texts:
        truth = coll.truth[r["obj"]]["groups"]
        for code, words in place_words.items():
            if code != truth["place"]:
                assert not any(names(r["text"], w) for w in words - place_words[truth["place"]]), (code, r["text"])
        for century, words in century_words.items():
            if century != truth["time"]:
                assert not any(names(r["text"], w) for w in words), (century, r["text"])
        checked += any(names(r["text"], w) for w in place_words[truth["place"]])
    assert checked > 10  # places are named often enough for the check to mean something


def test_images_exist_and_some_references_are_broken(demo):
    coll, store = demo
    rows = _query(store, """
        SELECT ?obj ?img ?url WHERE { GRAPH ?g { ?obj ecrm:P138i_has_representation ?img .
                                                 ?img a ecrm:E38_Image ; schema:contentUrl ?url } }""")
    ok = missing = not_image = 0
    with_image = set()
    for r in rows:
        assert r["url"].startswith("file:///")
        path = Path(unquote(urlparse(r["url"]).path))
        assert path.is_absolute() and coll.images_dir in path.parents
        if not path.exists():
            missing += 1
            continue
        try:
            with Image.open(path) as im:
                im.load()
                assert im.size == (64, 64) and im.mode == "RGB"
            ok += 1
            with_image.add(r["obj"])
        except OSError:
            not_image += 1
    assert missing >= 1 and not_image >= 1
    assert ok == coll.n_images and missing + not_image == coll.n_broken_image_refs
    assert 0.75 < len(with_image) / SIZE < 0.97  # most artifacts, not all, have a picture
    assert len(rows) > len({r["obj"] for r in rows})  # some have several


def test_every_value_is_in_the_vocabulary_with_five_languages(demo):
    _, store = demo
    for task in ("material", "technique", "depiction"):
        rows = _query(store, f"""
            SELECT DISTINCT ?v (COUNT(DISTINCT ?lang) AS ?langs) WHERE {{
              GRAPH ?g {{ {TASK_PATHS[task]} }}
              OPTIONAL {{ GRAPH <{VOCAB_GRAPH}> {{ ?v a skos:Concept ; skos:prefLabel ?l . BIND(LANG(?l) AS ?lang) }} }}
            }} GROUP BY ?v""")
        assert rows
        for r in rows:
            assert r["v"].startswith("https://w3id.org/kgenrich/demo/vocabulary/"), r
            assert int(r["langs"]) == 5, r
    rows = _query(store, f"""
        SELECT DISTINCT ?v ?code WHERE {{ GRAPH ?g {{ {TASK_PATHS['place']} }}
          OPTIONAL {{ GRAPH <{VOCAB_GRAPH}> {{ ?v gn:countryCode ?code }} }} }}""")
    assert all(r["code"] in {"ES", "FR", "IT", "GB", "CN"} for r in rows)
    assert all(r["v"].startswith("https://sws.geonames.org/") for r in rows)
    rows = _query(store, f"""
        SELECT DISTINCT ?v ?century WHERE {{ GRAPH ?g {{ {TASK_PATHS['time']} }}
          OPTIONAL {{ GRAPH <{VOCAB_GRAPH}> {{ ?v time:intervalIn ?century }} }} }}""")
    for r in rows:
        century = r["century"] or r["v"]
        assert century in CENTURIES or r["v"].endswith("art_nouveau"), r


@pytest.mark.parametrize("task", ["material", "technique", "depiction"])
def test_values_roll_up_to_facet_groups(demo, task):
    """The agent's rule finds a group for nearly every value; a few are unmapped on purpose."""
    coll, store = demo
    facet = f"http://data.silknow.org/vocabulary/facet/{FACETS[task]}"
    rows = _query(store, f"""
        SELECT ?obj ?v ?group WHERE {{
          GRAPH ?g {{ {TASK_PATHS[task]} }}
          OPTIONAL {{ <{facet}> skos:member ?group . ?group skos:member ?m . ?v skos:broader* ?m . }}
        }}""")
    groups = {r["group"] for r in rows if r["group"]}
    assert len(groups) >= 3
    unmapped = [r for r in rows if r["group"] is None]
    assert len(unmapped) <= 0.05 * len(rows)
    for r in rows:
        if r["group"]:
            assert r["group"].rsplit("/", 1)[1] == coll.truth[r["obj"]]["groups"][task]
    # Nested concepts (broader chains of two steps) occur in the thesaurus.
    assert _query(store, "SELECT ?a WHERE { GRAPH ?g { ?a skos:broader/skos:broader ?c } }")


def test_same_seed_same_bytes_other_seed_other_collection(tmp_path):
    out = tmp_path / "a"
    generate(out, size=40, seed=7, progress=False)
    first = _digest(out)
    generate(out, size=40, seed=7, progress=False)  # regenerated in place
    assert _digest(out) == first
    assert any(k.endswith(".jpg") for k in first) and any(k.endswith(".trig") for k in first)
    other = tmp_path / "b"
    generate(other, size=40, seed=8, progress=False)
    second = _digest(other)
    assert second["vocabulary.trig"] == first["vocabulary.trig"]
    assert second["museum-demo-ceres.trig"] != first["museum-demo-ceres.trig"]
    assert set(second) != set(first)  # other artifacts, other image files


def test_regeneration_clears_its_own_stale_images(tmp_path):
    generate(tmp_path, size=30, seed=0, progress=False)
    n_big = len(list((tmp_path / "images").rglob("*.jpg")))
    generate(tmp_path, size=10, seed=0, progress=False)
    assert len(list((tmp_path / "images").rglob("*.jpg"))) < n_big


def test_trig_writer_escapes_literals(tmp_path):
    doc = TrigDocument({"ex": "http://example.org/"})
    tricky = 'a "quoted" word,\nnew line \\ backslash\ttab > <'
    doc.add("http://example.org/g", "ex:s", [("ex:p", [literal(tricky, "es"), literal("x", datatype="http://www.w3.org/2001/XMLSchema#string")])])
    path = tmp_path / "t.trig"
    doc.write(path)
    store = ox.Store()
    store.load(path=str(path), format=ox.RdfFormat.TRIG)
    values = {q.object.value for q in store}
    assert tricky in values
    with pytest.raises(ValueError):
        iri("http://example.org/a b")
    with pytest.raises(ValueError):
        literal("x", lang="e s")
