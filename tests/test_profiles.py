"""Collection profiles: paths as parsed RDF, profile files checked, the profile chosen and said, Linked Art
read and predicted end to end (a small Linked Art collection written for the tests: tests/linked_art.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import linked_art as la
import pytest
from helpers import MINI, mini_settings
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import RDF

from kgenrich import profiles, sparql
from kgenrich.config import load_settings
from kgenrich.errors import KgenrichError
from kgenrich.labels import date_group, date_group_info
from kgenrich.pipeline import load_inputs
from kgenrich.propertypath import PathError, PropertyPath, parse_path
from kgenrich.record_values import span_value
from kgenrich.resources import ONTOLOGY_DIR
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.tasks import load_definitions

SH = "http://www.w3.org/ns/shacl#"
CRM = la.CRM


def la_store(n: int = 60) -> EmbeddedStore:
    store = EmbeddedStore(None)
    store.load_bytes(la.turtle(n).encode(), "turtle", graph=URIRef(la.GRAPH))
    return store


def la_settings(tmp_path: Path, **overrides):
    tmp_path.mkdir(parents=True, exist_ok=True)
    tasks = tmp_path / "small-tasks.ttl"
    tasks.write_text(la.SMALL_TASKS, encoding="utf-8")
    settings = load_settings(environ={}, cwd=tmp_path)
    settings.ontology = [str(ONTOLOGY_DIR), str(tasks)]
    settings.models_dir = str(tmp_path / "models")
    settings.sections = {"models": {"modalities": ["words", "tabular"], "folds": 2, "n_jobs": 1,
                                    "tabular": {"num_boost_round": 30, "n_jobs": 1}, "fusion": {"n_jobs": 1}},
                         "sync": {"report_dir": str(tmp_path / "reports")}}
    for key, value in overrides.items():
        setattr(settings, key, value)
    return settings


# ------------------------------------------------------------------ property paths
def _graph(turtle: str) -> Graph:
    return Graph().parse(data=f"@prefix sh: <{SH}> . @prefix ex: <http://example.org/> .\n{turtle}", format="turtle")


def _path_of(turtle: str) -> PropertyPath:
    g = _graph(turtle)
    return parse_path(g, g.value(URIRef("http://example.org/s"), URIRef("http://example.org/path")))


def test_paths_are_parsed_from_rdf_and_written_as_sparql():
    assert _path_of("ex:s ex:path ex:p .").sparql() == "<http://example.org/p>"
    assert _path_of("ex:s ex:path ( ex:a ex:b ) .").sparql() == "(<http://example.org/a> / <http://example.org/b>)"
    inverse = _path_of("ex:s ex:path [ sh:inversePath ex:p ] .")
    assert inverse.sparql() == "^<http://example.org/p>" and inverse.is_inverse_step
    assert _path_of("ex:s ex:path [ sh:alternativePath ( ex:a ( ex:b ex:c ) ) ] .").sparql() == \
        "(<http://example.org/a> | (<http://example.org/b> / <http://example.org/c>))"
    assert _path_of("ex:s ex:path [ sh:zeroOrMorePath ex:p ] .").sparql() == "(<http://example.org/p>)*"
    assert _path_of("ex:s ex:path [ sh:oneOrMorePath ex:p ] .").sparql() == "(<http://example.org/p>)+"


@pytest.mark.parametrize("turtle, problem", [
    ('ex:s ex:path "ex:p" .', "not a property path"),
    ("ex:s ex:path [ ex:other ex:p ] .", "exactly one of"),
    ("ex:s ex:path ( ex:a ) .", "at least two steps"),
    ("ex:s ex:path [ sh:alternativePath ex:a ] .", "takes a list"),
    ("ex:s ex:path [ sh:inversePath \"p\" ] .", "not a property path"),
])
def test_anything_but_a_path_of_iris_is_refused(turtle, problem):
    with pytest.raises(PathError, match=problem):
        _path_of(turtle)


def test_a_path_that_contains_itself_is_refused():
    g = Graph()
    node = BNode()
    g.add((node, URIRef(SH + "inversePath"), node))
    with pytest.raises(PathError, match="nested"):
        parse_path(g, node)


@pytest.mark.parametrize("iri", ['http://example.org/p> ?s ?p ?o } #', "http://example.org/a b", "relative/iri",
                                 'http://example.org/"quoted"'])
def test_an_iri_that_would_break_a_query_never_reaches_one(iri):
    with pytest.raises(KgenrichError):
        PropertyPath.step(iri)
    g = Graph()
    g.add((URIRef("http://example.org/s"), URIRef("http://example.org/path"), URIRef(iri)))
    with pytest.raises(PathError):
        parse_path(g, URIRef(iri))


def test_a_bound_path_is_its_parsed_text_only():
    path = _path_of("ex:s ex:path ( ex:a [ sh:inversePath ex:b ] ) .")
    text = sparql.bind("SELECT ?v WHERE { ?s $path ?v }", {"path": path})
    assert text == "SELECT ?v WHERE { ?s (<http://example.org/a> / ^<http://example.org/b>) ?v }"
    EmbeddedStore(None).select(text)  # and it parses


# ------------------------------------------------------------------ profile files
def test_shipped_profiles_read_and_check():
    shipped = profiles.shipped()
    assert set(shipped) == {"silknow", "linked-art"}
    art = profiles.read_profile(shipped["linked-art"])
    assert art.artifact_classes == (CRM + "E22_Human-Made_Object",)
    assert {i.name for i in art.texts} == {"title", "material statement", "statement"}
    assert {"creator", "height", "creator birth year"} <= {i.name for i in art.features}
    assert art.confidence_property == "https://w3id.org/kgenrich/ontology#confidence"
    silk = profiles.read_profile(shipped["silknow"])
    assert silk.confidence_property == "http://data.silknow.org/ontology/L18"
    assert silk.texts[0].value_path.sparql() == \
        "(<http://erlangen-crm.org/current/P3_has_note> | <http://www.w3.org/2000/01/rdf-schema#comment>)"


def _profile_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "mine.ttl"
    path.write_text(f"""@prefix kge: <https://w3id.org/kgenrich/ontology#> .
@prefix crm: <{CRM}> .
@prefix sh: <{SH}> .
<https://example.org/profile/mine> a kge:Profile ; kge:name "mine" ; kge:artifactClass crm:E22_Human-Made_Object ;
    kge:confidenceProperty kge:confidence ; kge:descriptionProperty crm:P3_has_note ;
    kge:mintNamespace "https://example.org/mint/" ;
{body} .
""", encoding="utf-8")
    return path


@pytest.mark.parametrize("body, message", [
    ('kge:textInput [ a kge:TextInput ; kge:name "t" ; kge:valuPath crm:P3_has_note ]',
     "unknown term kge:valuPath; did you mean kge:valuePath?"),
    ('kge:textInput [ a kge:TextInput ; kge:name "t" ]', "kge:valuePath is required"),
    ('kge:featureInput [ a kge:FeatureInput ; kge:name "h" ; kge:nodeType crm:E54_Dimension ; '
     'kge:valuePath crm:P90_has_value ]', "kge:nodeType and kge:nodeTypePath go together"),
    ('kge:textInput [ a kge:TextInput ; kge:name "t" ; kge:valuePath "crm:P3_has_note" ]', "not a property path"),
    ('kge:textInput [ a kge:TextInput ; kge:name "t" ; kge:valuePath crm:P3_has_note ] , '
     '[ a kge:TextInput ; kge:name "t" ; kge:valuePath crm:P190_has_symbolic_content ]', "two inputs are named 't'"),
])
def test_a_broken_profile_is_one_clear_line(tmp_path, body, message):
    path = _profile_file(tmp_path, body)
    with pytest.raises(profiles.ProfileError) as caught:
        profiles.read_profile(path)
    assert message in str(caught.value) and "mine.ttl" in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1


# ------------------------------------------------------------------ choosing the profile
def test_auto_chooses_by_the_store_and_says_why(tmp_path):
    settings = la_settings(tmp_path)
    art = load_definitions(la_store(), settings).profile
    assert art.name == "linked-art" and art.reason.startswith("auto: 60 artifacts of crm:E22_Human-Made_Object")
    silk_store = EmbeddedStore(None)
    silk_store.load_file(MINI)
    silk = load_definitions(silk_store, mini_settings()).profile
    assert silk.name == "silknow" and "artifacts of ecrm:E22_Man-Made_Object" in silk.reason
    empty = profiles.resolve(EmbeddedStore(None), settings)
    assert empty.name == "silknow" and "no artifact of any profile's classes" in empty.reason


def test_the_profile_setting_names_one_or_a_file(tmp_path):
    settings = la_settings(tmp_path, profile="silknow")
    chosen = profiles.resolve(la_store(), settings)
    assert chosen.name == "silknow" and chosen.reason == "set by the profile setting (silknow)"
    settings.profile = "linkedart"
    with pytest.raises(profiles.ProfileError, match="unknown profile 'linkedart'; did you mean 'linked-art'"):
        profiles.resolve(None, settings)
    settings.profile = str(_profile_file(tmp_path, 'kge:textInput [ a kge:TextInput ; kge:name "note" ; '
                                                   'kge:valuePath crm:P3_has_note ]'))
    mine = profiles.resolve(None, settings)
    assert mine.name == "mine" and "the file" in mine.reason


def test_the_environment_sets_the_profile(tmp_path):
    settings = load_settings(environ={"KGENRICH_PROFILE": "linked-art"}, cwd=tmp_path)
    assert settings.profile == "linked-art"


# ------------------------------------------------------------------ dates
@pytest.mark.parametrize("begin, end, group", [
    (1855, 1865, "century_19"), (1801, 1900, "century_19"), (1800, 1800, "century_18"), (1890, 1910, None),
    (1, 100, "century_1"), (-99, -1, "century_1_bce"), (0, 0, "century_1_bce"),
])
def test_a_span_is_a_century_when_both_bounds_fall_in_it(begin, end, group):
    same = date_group(begin, "century") == date_group(end, "century")
    assert (date_group(begin, "century") if same else None) == group


def test_date_groups_have_bounds_labels_and_stable_iris():
    assert date_group_info("century_19") == ("19th century", "https://w3id.org/kgenrich/timespan/century/19",
                                             "1801-01-01T00:00:00Z", "1900-12-31T23:59:59Z")
    assert date_group_info("century_21")[0] == "21st century" and date_group_info("century_12")[0] == "12th century"
    assert date_group_info("century_1_bce")[2:] == ("-0099-01-01T00:00:00Z", "0000-12-31T23:59:59Z")
    assert date_group(1857, "decade") == "decade_1850"
    assert date_group_info("decade_1850") == ("1850s", "https://w3id.org/kgenrich/timespan/decade/1850",
                                              "1850-01-01T00:00:00Z", "1859-12-31T23:59:59Z")


def test_span_values_from_literals():
    xsd = "http://www.w3.org/2001/XMLSchema#"
    dt = URIRef(xsd + "dateTime")
    assert span_value(BNode(), Literal("1855-01-01T00:00:00Z", datatype=dt),
                      Literal("1865-12-31T23:59:59Z", datatype=dt)) == "1855/1865"
    assert span_value(BNode(), Literal("1855", datatype=URIRef(xsd + "gYear")), None) == "1855/?"
    assert span_value(BNode(), Literal("about 1850"), None) == "?/?"
    assert span_value(BNode(), None, None) == "?/?"
    minted = URIRef("https://w3id.org/kgenrich/timespan/century/19")
    assert span_value(minted, None, None) == str(minted)


# ------------------------------------------------------------------ Linked Art read
def test_linked_art_records(tmp_path):
    inputs = load_inputs(la_store(), la_settings(tmp_path), progress=False)
    assert inputs.profile.name == "linked-art"
    by = {r.iri.rsplit("/", 1)[-1]: r for r in inputs.records}
    facts = {o["id"]: o for o in la.objects()}
    first, gap = by["o000"], by["o003"]
    assert first.text_fields["title"] == [facts["o000"]["title"]]
    assert first.text_fields["material statement"] == ["Oil paint on canvas"]
    assert sorted(first.text_fields["statement"]) == sorted(["Oil paint on canvas", "Presented by a friend 1900"])
    assert ("O000" not in {t for t, _ in first.texts})  # an identifier is no text
    assert {lang for _, lang in first.texts} == {"", "300388277"}  # the title's crm:P72_has_language
    assert first.literals["creator"] == [la.BASE + "person/p1"]
    assert first.literals["creator birth year"] == ["1790"]
    assert first.literals["creator birth place"] == [la.BASE + "place/london"]
    assert first.literals["height"] == [str(facts["o000"]["height"])]
    assert first.images == ["https://images.example.org/o000.jpg"] and first.image_nodes == []
    # the type is the classification that is a "type of work", not the other one
    assert first.values["type"] == [la.BASE + "type/painting"] and first.labels["type"] == "painting"
    assert gap.values["type"] == [] and gap.is_gap("type")
    assert first.values["century"] == [f"{facts['o000']['begin']}/{facts['o000']['end']}"]
    assert first.labels["century"] == la.century(facts["o000"]["begin"])
    assert first.subjects["century"] == la.BASE + "object/o000/production"
    assert first.subjects["depiction"] == la.BASE + "object/o000/visual"
    assert inputs.labels["type"].group_ids == ["painting", "print"]
    assert {g.label for g in inputs.labels["type"].groups} == {"painting", "print"}
    assert inputs.labels["material"].groups == [] and inputs.labels["material"].unmapped == 0


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kgenrich", "--store", str(tmp_path / "store"), *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)


def _write_config(tmp_path: Path) -> None:
    (tmp_path / "small-tasks.ttl").write_text(la.SMALL_TASKS, encoding="utf-8")
    (tmp_path / "kgenrich.toml").write_text(
        f'ontology = ["{ONTOLOGY_DIR}", "small-tasks.ttl"]\nmodels_dir = "models"\n'
        '[models]\nmodalities = ["words", "tabular"]\nfolds = 2\nn_jobs = 1\n'
        '[models.tabular]\nnum_boost_round = 50\nmin_data_in_leaf = 3\nvalid_fraction = 0.3\n[sync]\nreport_dir = "reports"\n', encoding="utf-8")


@pytest.mark.slow
def test_linked_art_from_tasks_to_a_validated_prediction_graph(tmp_path):
    _write_config(tmp_path)
    data = tmp_path / "collection.ttl"
    data.write_text(la.turtle(), encoding="utf-8")
    assert _cli(tmp_path, "load", str(data), "--graph", la.GRAPH).returncode == 0

    listed = json.loads(_cli(tmp_path, "tasks", "--json").stdout)
    assert listed["profile"]["name"] == "linked-art" and listed["profile"]["reason"].startswith("auto: 60 artifacts")
    status = {t["name"]: t for t in listed["tasks"]}
    assert status["type"]["active"] and status["century"]["active"] and status["depiction"]["active"]
    assert status["material"]["inactive_reason"] == "no artifact in the store has a value for it"
    text = _cli(tmp_path, "tasks").stdout
    assert text.startswith("profile linked-art (ontology/profiles/linked-art.ttl): auto: 60 artifacts")
    assert "material" in text and "INACTIVE: no artifact in the store has a value for it" in text
    explained = _cli(tmp_path, "tasks", "--explain", "material statement").stdout
    assert "node type   crm:P2_has_type one of aat:300435429" in explained

    synced = _cli(tmp_path, "sync", "--json", "--quiet")
    assert synced.returncode == 0, synced.stderr
    report = json.loads(synced.stdout)
    assert report["profile"] == "linked-art" and report["profile_reason"].startswith("auto:")
    assert set(report["inactive"]) == {"material", "technique", "place"}
    assert report["gaps"]["type"] == 6 and report["gaps"]["century"] == 9 and report["gaps"]["depiction"] == 4
    card = json.loads((tmp_path / "models" / "ensemble.json").read_text())
    assert card["profile"]["name"] == "linked-art" and card["modalities"] == ["tabular", "words"]

    store = EmbeddedStore(tmp_path / "store", read_only=True)
    pred = URIRef("http://data.silknow.org/predictions")
    triples = list(store.graph_triples(pred))
    confidence = URIRef("https://w3id.org/kgenrich/ontology#confidence")
    statements = {s for s, p, o in triples if p == RDF.type and o == RDF.Statement}
    assert statements and all(any(s == st and p == confidence for s, p, _ in triples) for st in statements)
    facts = {o["id"]: o for o in la.objects()}
    predicted = {}
    for st in statements:
        subject = next(o for s, p, o in triples if s == st and p == RDF.subject)
        predicate = next(o for s, p, o in triples if s == st and p == RDF.predicate)
        value = next(o for s, p, o in triples if s == st and p == RDF.object)
        predicted[(str(subject), str(predicate))] = str(value)
    minted = {str(s): str(o) for s, p, o in triples if p == URIRef(CRM + "P108i_was_produced_by")}
    visuals = {str(s): str(o) for s, p, o in triples if p == URIRef(CRM + "P65_shows_visual_item")}
    for oid, o in facts.items():
        obj = la.BASE + f"object/{oid}"
        if not o["has_type"]:
            assert predicted[(obj, CRM + "P2_has_type")] == la.BASE + f"type/{o['type']}"  # an easy one
        if o["has_production"] and not o["has_date"]:
            value = predicted[(obj + "/production", CRM + "P4_has_time-span")]
            assert value == f"https://w3id.org/kgenrich/timespan/century/{la.century(o['begin'])[8:]}"
        if not o["has_production"]:
            # a production minted for it, linked from the object as Linked Art links them
            production = minted[obj]
            assert production.startswith("https://w3id.org/kgenrich/production/")
            assert (production, CRM + "P4_has_time-span") in predicted
            assert (URIRef(production), RDF.type, URIRef(CRM + "E12_Production")) in triples
        else:
            assert obj not in minted
        if not o["has_visual"]:
            assert (visuals[obj], CRM + "P129_is_about") in predicted
    # a predicted century is a time-span node with its bounds and an English label
    span = URIRef("https://w3id.org/kgenrich/timespan/century/19")
    about = {(p, o) for s, p, o in triples if s == span}
    assert {(str(p), str(o)) for p, o in about if str(p).startswith(CRM + "P82")} == {
        (CRM + "P82a_begin_of_the_begin", "1801-01-01T00:00:00Z"), (CRM + "P82b_end_of_the_end", "1900-12-31T23:59:59Z")}
    assert (URIRef("http://www.w3.org/2000/01/rdf-schema#label"), Literal("19th century", lang="en")) in about
    assert (RDF.type, URIRef(CRM + "E52_Time-Span")) in about
    # the agents are described with the profile's description property
    assert any(p == URIRef(CRM + "P3_has_note") for s, p, o in triples) is False
    assert any(p == URIRef("http://www.w3.org/2000/01/rdf-schema#comment") for s, p, o in triples)
    # the provenance says which profile wrote the run
    prov = list(store.graph_triples(URIRef("http://data.silknow.org/predictions/provenance")))
    assert Literal("linked-art") in {o for s, p, o in prov if p == URIRef("https://w3id.org/kgenrich/sync#profile")}
    validated = _cli(tmp_path, "validate")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    store.close()

    again = json.loads(_cli(tmp_path, "sync", "--json", "--quiet").stdout)
    assert not again["wrote"] and again["predictions"] == report["predictions"]


# ------------------------------------------------------------------ value and broader groupings
SKOS_TREE = """@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix crm: <http://www.cidoc-crm.org/cidoc-crm/> .
@prefix ex: <http://example.org/c/> .
ex:fibre skos:prefLabel "fibre"@en .  ex:metal skos:prefLabel "metal"@en .
ex:silk skos:broader ex:fibre ; skos:prefLabel "silk"@en, "seda"@es .
ex:wildsilk skos:broader ex:silk .
ex:wool crm:P127_has_broader_term ex:fibre .
ex:gold skos:broader ex:metal .
ex:dup1 skos:prefLabel "same name 1"@en .
"""


def _records(values: dict[str, list[str]], task: str) -> list:
    from kgenrich.records import ArtifactRecord

    return [ArtifactRecord(iri=f"http://example.org/a/{i}", graph="g", museum="g", values={task: vs})
            for i, vs in values.items()]


def _broader_task(**extra):
    from kgenrich.task_types import Task

    path = PropertyPath("alt", parts=(PropertyPath.step("http://www.w3.org/2004/02/skos/core#broader"),
                                      PropertyPath.step(CRM + "P127_has_broader_term")))
    return Task(name="material", iri="http://example.org/t", label="material", artifact_class=CRM + "E22",
                property=CRM + "P45_consists_of", grouping="broader", broader_path=path, **extra)


def test_broader_grouping_rolls_values_up_to_top_concepts_or_a_depth():
    from kgenrich.labels import task_label_groups

    store = EmbeddedStore(None)
    store.load_bytes(SKOS_TREE.encode(), "turtle", graph=URIRef("http://example.org/thesaurus"))
    c = "http://example.org/c/"
    values = {1: [c + "wildsilk"], 2: [c + "silk"], 3: [c + "wool"], 4: [c + "gold"], 5: [c + "unknown"]}
    tops = _broader_task(top_concepts=(c + "fibre", c + "metal"))
    labels, mapping = task_label_groups(store, tops, _records(values, "material"))
    assert {g.id: (g.label, g.support, g.concept) for g in labels.groups} == {
        "fibre": ("fibre", 3, c + "fibre"), "metal": ("metal", 1, c + "metal")}
    assert labels.unmapped == 1 and labels.unmapped_values == [c + "unknown"]
    deep = _broader_task(depth=1)
    labels, mapping = task_label_groups(store, deep, _records(values, "material"))
    assert mapping[c + "wildsilk"] == ["silk"] and mapping[c + "silk"] == ["silk"]
    assert mapping[c + "wool"] == ["wool"] and mapping[c + "gold"] == ["gold"]
    assert mapping[c + "unknown"] == ["unknown"]  # no hierarchy above it: itself


def test_value_grouping_labels_and_ids_that_never_collide():
    from kgenrich.labels import task_label_groups
    from kgenrich.task_types import Task

    store = EmbeddedStore(None)
    store.load_bytes(SKOS_TREE.encode(), "turtle", graph=URIRef("http://example.org/thesaurus"))
    task = Task(name="material", iri="http://example.org/t", label="m", artifact_class=CRM + "E22",
                property=CRM + "P45_consists_of", grouping="value")
    values = {1: ["http://example.org/c/silk"], 2: ["http://example.org/c/dup1"], 3: ["http://example.org/d/dup1"]}
    labels, mapping = task_label_groups(store, task, _records(values, "material"))
    ids = {g.concept: g.id for g in labels.groups}
    assert ids["http://example.org/c/silk"] == "silk"
    assert len(set(ids.values())) == 3 and ids["http://example.org/c/dup1"].startswith("dup1~")
    assert {g.label for g in labels.groups} >= {"silk", "same name 1"}


# ------------------------------------------------------------------ staging graphs, Linked Art
def test_linked_art_through_staging_graphs_equals_a_direct_write(tmp_path):
    """A staged write derives what staging never holds -- plain triples, minted subjects linked from the
    artifact (kgs:mintedLinkFrom), date groups' time-span nodes (kgs:span*) -- exactly as a direct write."""
    from servers import FakeTrainer

    from kgenrich.sync import run_sync, swap_shards

    def live(store):
        graph = URIRef("http://data.silknow.org/predictions")
        return {t for t in store.graph_triples(graph) if t[1] != URIRef("http://www.w3.org/ns/prov#atTime")}

    store = la_store()
    settings = la_settings(tmp_path)
    run_sync(store, settings, progress=False, trainer=FakeTrainer())
    staged = run_sync(store, settings, progress=False, trainer=FakeTrainer(version="2"), shard=(0, 1),
                      run_id="run-1")
    assert staged.write == "staged"
    staging = [g for g in store.graph_names() if "/staging/" in str(g)]
    museum_properties = {URIRef(CRM + p) for p in ("P2_has_type", "P4_has_time-span", "P129_is_about",
                                                   "P108i_was_produced_by", "P65_shows_visual_item",
                                                   "P82a_begin_of_the_begin", "P82b_end_of_the_end")}
    for g in staging:
        assert not {p for _, p, _ in store.graph_triples(g)} & museum_properties
    swap_shards(store, settings, "run-1", [staged])
    assert not [g for g in store.graph_names() if "/staging/" in str(g)]
    fresh = la_store()
    run_sync(fresh, la_settings(tmp_path / "fresh"), progress=False, trainer=FakeTrainer(version="2"))
    assert live(store) == live(fresh)
    triples = live(fresh)
    assert any(p == URIRef(CRM + "P108i_was_produced_by") for _, p, _ in triples)  # minted, from the artifact
    assert any(str(s).startswith("https://w3id.org/kgenrich/timespan/century/") for s, _, _ in triples)


# ------------------------------------------------------------------ review on a Linked Art store
def test_review_reads_linked_art_inputs_and_links_curated_values_the_profiles_way(tmp_path):
    """The review page on a Linked Art store: statements read with the profile's confidence
    property, evidence from its text inputs, and a curated value on a minted production linked
    from the object (crm:P108i_was_produced_by), as the task's own query reads it back; an undo
    takes the link away again."""
    from servers import FakeTrainer

    from kgenrich.dataset import merge_curated
    from kgenrich.review import decisions as D
    from kgenrich.review.reading import Reader
    from kgenrich.sync import run_sync

    store = la_store()
    settings = la_settings(tmp_path)
    run_sync(store, settings, progress=False, trainer=FakeTrainer())
    reader = Reader(store, settings)
    c = reader.collection()
    assert c.profile.name == "linked-art"
    assert str(c.confidence) == "https://w3id.org/kgenrich/ontology#confidence"
    items = [i for i in reader.queue(limit=500)["items"] if i["task"] == "century"]
    assert items and all(0.0 <= i["confidence"] <= 1.0 for i in items)
    assert any(i["evidence"]["text"] for i in items)  # the titles and statements of the profile
    item = next(i for i in items if i["subject"].startswith("https://w3id.org/kgenrich/production/"))
    produced_by = URIRef(CRM + "P108i_was_produced_by")
    curated = URIRef("http://data.silknow.org/predictions/curated")

    outcome = D.decide(store, reader.graphs, c.tasks, c.groups, c.classes, D.Reviewer("alice"), item["statement"],
                       "accepted", value=item["value"], confidence=c.confidence)
    assert outcome.recorded
    triples = set(store.graph_triples(curated))
    assert (URIRef(item["artifact"]), produced_by, URIRef(item["subject"])) in triples
    assert (URIRef(item["subject"]), produced_by, URIRef(item["artifact"])) not in triples
    record = next(r for r in load_inputs(store, settings, with_inputs=False, progress=False).records
                  if r.iri == item["artifact"])
    record.values.pop("century", None)
    assert merge_curated(store, curated, c.tasks, [record]) >= 1 and record.values["century"]
    assert reader.artifact(item["artifact"], with_scores=False)["texts"]  # the artifact page shows its texts

    D.decide(store, reader.graphs, c.tasks, c.groups, c.classes, D.Reviewer("alice"), item["statement"], "undone",
             revises=outcome.review, confidence=c.confidence)
    assert not any(p == produced_by for _, p, _ in store.graph_triples(curated))
