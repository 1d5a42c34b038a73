"""Tasks as ontology editors change them: per-property overrides, the closed-world term check, the
SHACL shapes of task definitions, ``tasks --explain``, ``config show|apply|reset`` with PROV, and
sync following a configuration change -- on the embedded store and an Oxigraph server, and the
issue's acceptance checks on the real SILKNOW data."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import VOCABULARIES
from helpers import MINI, MINI_TASKS, mini_settings
from rdflib import Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import RDF, RDFS, SH
from servers import FakeTrainer
from test_sync import PRED, PROV_G, graph_fingerprints

from kgenrich import config_graph, vocabulary
from kgenrich.errors import TaskDefinitionError
from kgenrich.labels import labels_json
from kgenrich.namespaces import CONFIG_GRAPH, KGE_IRI, KGS, KGSH, PROV
from kgenrich.pipeline import load_inputs
from kgenrich.resources import ONTOLOGY_DIR, SHAPES_DIR
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.store.remote import RemoteStore
from kgenrich.sync import run_sync
from kgenrich.tasks import GROUPINGS, load_tasks, read_definitions

ROOT = Path(__file__).resolve().parent.parent
KGENRICH = [sys.executable, "-m", "kgenrich"]
E = "http://erlangen-crm.org/current/"
PREFIXES = """@prefix kge:  <https://w3id.org/kgenrich/ontology#> .
@prefix task: <https://w3id.org/kgenrich/task/> .
@prefix ecrm: <http://erlangen-crm.org/current/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
"""
MINI_SOURCE = "tests/data/mini-tasks.ttl"  # how the mini task file is named in messages (tests run from the root)


def triples_of(body: str) -> list:
    g = Graph().parse(data=PREFIXES + body, format="turtle")
    return list(g)


def set_config(store, body: str) -> None:
    store.replace_graph(CONFIG_GRAPH, triples_of(body))


@pytest.fixture(params=["embedded", "oxigraph"])
def store(request):
    if request.param == "embedded":
        s = EmbeddedStore()
    else:
        server = request.getfixturevalue("oxigraph")
        s = RemoteStore(server.query, update_endpoint=server.update)
    s.load_file(MINI)
    return s


@pytest.fixture
def mini_store():
    s = EmbeddedStore()
    s.load_file(MINI)
    return s


@pytest.fixture(autouse=True)
def _from_the_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # file names in messages are relative to the working directory


def problem(store, settings=None) -> str:
    with pytest.raises(TaskDefinitionError) as info:
        read_definitions(store, settings or mini_settings())
    return str(info.value)


# ------------------------------------------------------------------ overrides
def test_one_triple_overrides_one_property_and_explain_says_where(store):
    shipped = {t.name: t for t in load_tasks(store, mini_settings())}
    set_config(store, "task:place kge:minSupport 2 .")
    definitions = read_definitions(store, mini_settings())
    place = next(t for t in definitions.tasks if t.name == "place")
    # only the minimum support changed; everything else is the file's
    assert place == dataclasses.replace(shipped["place"], min_support=2)
    groups = load_inputs(store, mini_settings(), with_inputs=False, tasks=definitions.tasks, progress=False).labels
    assert [g.id for g in groups["place"].groups] == ["FR"] and [g.id for g in groups["place"].dropped] == ["ES"]

    rows = {r["property"]: r for r in definitions.find("place").explain()["properties"]}
    assert rows["kge:minSupport"]["values"] == ["2"] and rows["kge:minSupport"]["source"] == "configuration graph"
    # what it overrides: the test file's value, which itself overrode the profile's
    assert rows["kge:minSupport"]["overrides"] == [{"value": "150", "source": "ontology/profiles/silknow.ttl"},
                                                    {"value": "1", "source": MINI_SOURCE}]
    assert rows["kge:property"]["source"] == MINI_SOURCE and rows["kge:property"]["values"] == [
        "ecrm:P8_took_place_on_or_within"]
    assert rows["kge:minConfidence"]["source"] == "default" and rows["kge:enabled"]["values"] == ["true"]


def test_a_node_with_the_tasks_name_overrides_it_too(mini_store):
    set_config(mini_store, '<https://example.org/mine> kge:name "place" ; kge:minSupport 2 ; kge:order 0 .')
    definitions = read_definitions(mini_store, mini_settings())
    assert [t.name for t in definitions.tasks][0] == "place"
    assert definitions.find("place").explain()["also"] == ["<https://example.org/mine>"]
    assert next(t for t in definitions.tasks if t.name == "place").subject_class == E + "E12_Production"


def test_enabled_false_disables_and_true_enables_again(mini_store, tmp_path):
    set_config(mini_store, "task:time kge:enabled false .")
    definitions = read_definitions(mini_store, mini_settings())
    assert "time" not in [t.name for t in definitions.tasks]
    assert definitions.find("time").explain()["enabled"] is False
    # a task a file disables comes back with one triple in the configuration graph
    off = tmp_path / "off.ttl"
    off.write_text(PREFIXES + "task:depiction kge:enabled false .")
    settings = mini_settings()
    settings.ontology.append(str(off))
    assert "depiction" not in [t.name for t in load_tasks(mini_store, settings)]
    set_config(mini_store, "task:depiction kge:enabled true .")
    assert "depiction" in [t.name for t in load_tasks(mini_store, settings)]


def test_files_that_disagree_are_an_error_naming_both(mini_store, tmp_path):
    other = tmp_path / "other.ttl"
    other.write_text(PREFIXES + "task:place kge:minSupport 5 .")
    settings = mini_settings()
    settings.ontology.append(str(other))
    message = problem(mini_store, settings)
    assert message.startswith("task 'place': kge:minSupport must be one")
    assert f"1 ({MINI_SOURCE})" in message and f"5 ({other})" in message


# ------------------------------------------------------------------ typos and shapes
@pytest.mark.parametrize("where", ["configuration graph", "file"])
@pytest.mark.parametrize("body, term, closest", [
    ("task:place kge:minSuport 1000 .", "kge:minSuport", "kge:minSupport"),
    ("task:place kge:grouping kge:CountyGrouping .", "kge:CountyGrouping", "kge:CountryGrouping"),
    ('<https://example.org/t> a kge:PredictionTsk ; kge:name "place" .', "kge:PredictionTsk", "kge:PredictionTask"),
])
def test_an_unknown_kge_term_is_refused_naming_the_closest(mini_store, tmp_path, where, body, term, closest):
    settings = mini_settings()
    if where == "file":
        path = tmp_path / "typo.ttl"
        path.write_text(PREFIXES + body)
        settings.ontology.append(str(path))
        source = str(path)
    else:
        set_config(mini_store, body)
        source = "configuration graph"
    assert problem(mini_store, settings) == f"task 'place' ({source}): unknown term {term}; did you mean {closest}?"


def test_a_full_redefinition_with_a_typo_is_refused(mini_store):
    # The case: min support used to fall to 1 silently.
    set_config(mini_store, """task:place a kge:PredictionTask ; kge:name "place" ;
        kge:artifactClass ecrm:E22_Man-Made_Object ; kge:subjectLink ecrm:P108_has_produced ;
        kge:property ecrm:P8_took_place_on_or_within ; kge:grouping kge:CountryGrouping ; kge:minSuport 1000 .""")
    assert "unknown term kge:minSuport; did you mean kge:minSupport?" in problem(mini_store)


@pytest.mark.parametrize("body, expected", [
    ('task:place kge:minSupport "1000" .',
     "task 'place': kge:minSupport must be one whole number (xsd:integer), 0 or more; got \"1000\" (configuration graph)"),
    ("task:place kge:minSupport 1, 2 .", "task 'place': kge:minSupport must be one whole number"),
    ("task:place kge:minConfidence 1.5 .", "task 'place': kge:minConfidence must be one number from 0 to 1"),
    ('task:place kge:enabled "false" .', "task 'place': kge:enabled must be one boolean"),
    ("task:place kge:grouping <https://example.org/MyGrouping> .", "task 'place': kge:grouping is required: exactly one of"),
    ("task:place kge:grouping kge:CollectionGrouping .",
     "task 'place': kge:CollectionGrouping needs kge:facet (the skos:Collection whose member collections are the "
     "groups); got kge:grouping kge:CollectionGrouping (configuration graph)"),
    ("task:time kge:groupClass <https://example.org/A>, <https://example.org/B> .",
     "task 'time': kge:groupClass takes at most one class IRI"),
    ("task:depiction kge:subjectClass ecrm:E12_Production .", "task 'depiction': kge:subjectClass needs kge:subjectLink"),
    ('task:place kge:name "two words" .', "task 'two words': kge:name must be one plain string"),
    ('task:place kge:property "P8" .', "task 'place': kge:property is required: exactly one property IRI"),
    ('<https://example.org/new> a kge:PredictionTask ; kge:name "new" ; kge:artifactClass ecrm:E22_Man-Made_Object ;'
     " kge:grouping kge:CountryGrouping .",
     "task 'new': kge:property is required: exactly one property IRI (task declared in configuration graph)"),
])
def test_shapes_refuse_a_bad_definition_in_one_line(mini_store, body, expected):
    set_config(mini_store, body)
    message = problem(mini_store)
    assert message.startswith(expected) and "\n" not in message


def test_a_node_that_is_no_task_is_refused_with_the_closest_task(mini_store):
    set_config(mini_store, "task:plaec kge:minSupport 2 .")
    assert problem(mini_store) == ("task 'plaec' (configuration graph): task:plaec sets kge:minSupport but is no task: "
                                   "no kge:PredictionTask has this IRI or kge:name; did you mean task:place (task 'place')?")


def test_owlready2_still_checks_domain_terms_and_says_where(mini_store):
    set_config(mini_store, "task:place kge:artifactClass ecrm:E99_Nothing .")
    assert problem(mini_store) == (f"task 'place': artifact class <{E}E99_Nothing> is not a class of the loaded "
                                   "ontology (kge:artifactClass from configuration graph)")


def test_several_problems_give_a_line_each():
    store = EmbeddedStore()
    set_config(store, 'task:place kge:minSupport "x" . task:time kge:order "y" .')
    lines = problem(store).splitlines()
    assert len(lines) == 2 and lines[0].startswith("task 'place'") and lines[1].startswith("task 'time'")


# ------------------------------------------------------------------ vocabulary, shapes, docs agree
def test_shapes_vocabulary_and_code_agree():
    shapes = Graph().parse(SHAPES_DIR / "tasks.ttl", format="turtle")
    groupings = [str(g) for g in Collection(shapes, shapes.value(KGSH["task-grouping"], SH["in"]))]
    declared = [t.iri for t in vocabulary.terms().values() if t.kind == "grouping"]
    assert sorted(groupings) == sorted(declared) == sorted(GROUPINGS)
    constrained = {str(shapes.value(s, SH.path)) for s in shapes.objects(KGSH.PredictionTaskShape, SH.property)}
    properties = {t.iri for t in vocabulary.terms().values()
                  if t.kind == "property" and t.domain == KGE_IRI + "PredictionTask"}
    assert constrained == properties | {str(RDFS.label)}
    for shape in shapes.objects(KGSH.PredictionTaskShape, SH.property):
        # every message names its property, so that an error line says which one is wrong
        path = vocabulary.curie(str(shapes.value(shape, SH.path)))
        assert str(shapes.value(shape, SH.message)).startswith(path), shape
    # every kge: term used in the shipped files is in the vocabulary
    shipped = sorted(ONTOLOGY_DIR.glob("*.ttl")) + sorted(SHAPES_DIR.glob("*.ttl"))
    used = set(re.findall(r"\bkge:(\w+)", "".join(p.read_text(encoding="utf-8") for p in shipped)))
    assert used and {KGE_IRI + u for u in used} <= set(vocabulary.terms())


def test_closest_term():
    assert vocabulary.closest(KGE_IRI + "minsupport") == "kge:minSupport"
    assert vocabulary.closest(KGE_IRI + "artefactClass") == "kge:artifactClass"
    assert vocabulary.closest(KGE_IRI + "zzzzzz") is None


def test_docs_reference_is_generated_from_the_vocabulary():
    doc = (ROOT / "docs" / "tasks.md").read_text(encoding="utf-8")
    assert vocabulary.replace_reference(doc) == doc, (
        "docs/tasks.md is out of date: run `python -m kgenrich.vocabulary --write docs/tasks.md`")
    for term in vocabulary.terms().values():
        assert f"`{term.curie}`" in doc and term.comment in doc


EXAMPLES = {
    # example -> what its dry run on the mini collection must show
    "threshold": lambda c: "task place: kge:minSupport 1 -> 1000" in c.task_changes,
    "disable": lambda c: "depiction" not in c.tasks_after and "task depiction: disabled" in c.task_changes,
    "another-class": lambda c: "task pattern_book_depiction: added" in c.task_changes,
    "collection": lambda c: "task fibre_or_metal: added" in c.task_changes and c.other_triples == 16,
    "value-step": lambda c: "task acquisition_century: added" in c.task_changes,
}


def test_docs_worked_examples_check(mini_store):
    doc = (ROOT / "docs" / "tasks.md").read_text(encoding="utf-8")
    prefixes = re.search(r"The prefixes used:\n\n```turtle\n(.*?)```", doc, re.S).group(1)
    examples = dict(re.findall(r"<!-- example: ([\w-]+) -->\n```turtle\n(.*?)```", doc, re.S))
    assert sorted(examples) == sorted(EXAMPLES)
    for name, body in examples.items():
        triples = list(Graph().parse(data=prefixes + body, format="turtle"))
        change = config_graph.plan(mini_store, mini_settings(), triples)
        assert EXAMPLES[name](change), (name, change.summary_lines())
    time_step = read_definitions(mini_store, mini_settings(), config=list(Graph().parse(
        data=prefixes + examples["value-step"], format="turtle"))).find("acquisition_century")
    assert str(time_step.value(KGE_IRI + "valueStep")) == E + "P86_falls_within"


def test_readme_cites_files_that_are_shipped():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for cited in set(re.findall(r"`((?:ontology|shapes|docs)/[\w.-]+)`", readme)):
        assert (ROOT / cited).is_file(), cited


# ------------------------------------------------------------------ config apply / show / reset
def cli(args, cwd, env=None):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KGENRICH_")}
    environment.update(env or {})
    result = subprocess.run(KGENRICH + args, cwd=cwd, env=environment, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.fixture
def workdir(tmp_path):
    ontology = [str(ONTOLOGY_DIR / "kgenrich.ttl"), str(ONTOLOGY_DIR / "crm-core.ttl"), str(MINI_TASKS)]
    (tmp_path / "kgenrich.toml").write_text(f"ontology = {json.dumps(ontology)}\n")
    (tmp_path / "place.ttl").write_text(PREFIXES + "task:place kge:minSupport 2 .\n")
    (tmp_path / "typo.ttl").write_text(PREFIXES + "task:place kge:minSuport 2 .\n")
    (tmp_path / "off.ttl").write_text(PREFIXES + "task:place kge:minSupport 2 .\ntask:time kge:enabled false .\n")
    return tmp_path


@pytest.mark.parametrize("kind", ["embedded", "oxigraph"])
def test_config_apply_dry_run_show_and_reset(workdir, kind, request):
    if kind == "embedded":
        where = ["--store", str(workdir / "store")]
        open_store = lambda: EmbeddedStore(workdir / "store")  # noqa: E731
    else:
        server = request.getfixturevalue("oxigraph")
        where = ["--endpoint", server.query, "--update-endpoint", server.update]
        open_store = lambda: RemoteStore(server.query, update_endpoint=server.update)  # noqa: E731
    assert cli(where + ["load", str(MINI)], workdir).returncode == 0

    def snapshot():
        s = open_store()
        try:
            return graph_fingerprints(s)
        finally:
            s.close()

    before = snapshot()
    dry = cli(where + ["config", "apply", "--dry-run", "place.ttl"], workdir)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        "apply place.ttl: the configuration graph gets 1 triple (1 added, 0 removed)",
        "task place: kge:minSupport 1 -> 2",
        "label groups (kept for training, with their labelled artifacts):",
        "  place: 2 -> 1 group, 3 -> 2 labelled artifacts",
        "    lost: ES 1",
        "    kept: FR 2",
        "dry run: nothing written"]
    assert snapshot() == before

    typo = cli(where + ["config", "apply", "typo.ttl"], workdir)
    assert typo.returncode == 2 and typo.stdout == ""
    assert typo.stderr == ("error: task 'place' (configuration graph): unknown term kge:minSuport; "
                           "did you mean kge:minSupport?\n")
    assert snapshot() == before

    applied = cli(where + ["config", "apply", "place.ttl", "--agent", "alice", "--json"], workdir)
    assert applied.returncode == 0, applied.stderr
    change = json.loads(applied.stdout)
    assert change["written"] and change["agent"] == "alice" and change["added"] == 1
    shown = cli(where + ["config", "show"], workdir).stdout
    assert set(Graph().parse(data=shown, format="turtle")) == set(triples_of("task:place kge:minSupport 2 ."))
    labels = json.loads(cli(where + ["labels", "--json", "--task", "place"], workdir).stdout)
    assert [g["id"] for g in labels["tasks"][0]["groups"]] == ["FR"]
    explain = cli(where + ["tasks", "--explain", "place"], workdir).stdout
    assert ("kge:minSupport     2  [configuration graph; overrides 150 from ontology/profiles/silknow.ttl; "
            "overrides 1 from") in explain

    off = cli(where + ["config", "apply", "off.ttl"], workdir, env={"KGENRICH_AGENT": "bob"})
    assert off.returncode == 0 and "task time: disabled" in off.stdout and "(agent: bob)" in off.stdout
    assert "time" not in [t["name"] for t in json.loads(cli(where + ["tasks", "--json"], workdir).stdout)["tasks"]]

    reset = cli(where + ["config", "reset"], workdir)
    assert reset.returncode == 0 and "task time: enabled" in reset.stdout
    assert cli(where + ["config", "show"], workdir).stdout.startswith("# The configuration graph")
    tasks = json.loads(cli(where + ["tasks", "--json"], workdir).stdout)["tasks"]
    assert [(t["name"], t["min_support"]) for t in tasks] == [
        ("material", 1), ("technique", 1), ("place", 1), ("time", 1), ("depiction", 1)]

    # Every change is recorded with PROV in the provenance graph, and no other graph changed.
    s = open_store()
    try:
        prov = list(s.graph_triples(PROV_G))
        after = graph_fingerprints(s, skip={str(PROV_G)})
    finally:
        s.close()
    assert after == before
    props: dict = {}
    for subject, p, o in prov:
        props.setdefault(subject, {}).setdefault(p, []).append(o)
    def who(activity):
        return str(props[props[activity][PROV.wasAssociatedWith][0]][RDFS.label][0])

    records = {f"{props[a][KGS.action][0]} by {who(a)}": props[a]
               for a in props if KGS.ConfigurationChange in props[a].get(RDF.type, [])}
    import getpass

    assert sorted(records) == ["apply by alice", "apply by bob", f"reset by {getpass.getuser()}"]
    alice = records["apply by alice"]
    assert [str(v) for v in alice[KGS.taskChange]] == ["task place: kge:minSupport 1 -> 2"]
    assert sorted(map(str, alice[KGS.groupChange])) == ["place: 2 -> 1 group, 3 -> 2 labelled artifacts",
                                                          "place: kept: FR 2", "place: lost: ES 1"]
    assert alice[PROV.generated] == [CONFIG_GRAPH] and int(alice[KGS.triplesAdded][0]) == 1
    assert str(alice[KGS.file][0]) == "place.ttl"
    assert PROV.Agent in props[alice[PROV.wasAssociatedWith][0]][RDF.type]


def test_config_apply_previews_label_groups_with_curated_values_as_train_counts_them(mini_store):
    """A value curators accepted on the review page (the curated graph) is a known value: the label
    groups ``config apply --dry-run`` previews count it, exactly as ``train`` and ``labels`` do
    (issue 20: the preview read the store without the curated graph)."""
    from kgenrich.graphs import OwnGraphs

    settings = mini_settings()
    # a3 has no place in its museum graph; a curator accepted Spain (ES had 1 artifact: a1).
    curated = OwnGraphs.from_settings(settings).curated
    mini_store.load_bytes(b"""
<https://w3id.org/kgenrich/test/production/a3> <http://erlangen-crm.org/current/P108_has_produced>
    <https://w3id.org/kgenrich/test/object/a3> ;
  <http://erlangen-crm.org/current/P8_took_place_on_or_within> <https://sws.geonames.org/2510769/> .
""", "turtle", graph=curated)
    counted = {g.id: g.support for g in load_inputs(mini_store, settings, with_inputs=False,
                                                    progress=False).labels["place"].groups}
    assert counted == {"FR": 2, "ES": 2}
    change = config_graph.apply(mini_store, settings, triples_of("task:place kge:minSupport 2 ."),
                                source="support.ttl", dry_run=True)
    place = next(g for g in change.groups if g.task == "place")
    assert place.before == place.after == counted  # without the curated value: ES 1, lost at support 2
    assert not place.lost and not any(line.startswith("place") for line in change.group_lines())


def test_agent_name(monkeypatch):
    monkeypatch.setenv("KGENRICH_AGENT", "carol")
    assert config_graph.agent_name("alice") == "alice" and config_graph.agent_name(None) == "carol"
    monkeypatch.delenv("KGENRICH_AGENT")
    import getpass

    assert config_graph.agent_name(None) == getpass.getuser()


def test_config_apply_refuses_quad_files_and_bad_rdf(workdir):
    (workdir / "c.trig").write_text("<https://example.org/g> { <https://example.org/a> <https://example.org/b> 1 . }")
    (workdir / "bad.ttl").write_text(PREFIXES + "task:place kge:minSupport .\n")
    where = ["--store", str(workdir / "store")]
    quads = cli(where + ["config", "apply", "c.trig"], workdir)
    assert quads.returncode == 2 and "give a triple format" in quads.stderr
    bad = cli(where + ["config", "apply", "bad.ttl"], workdir)
    assert bad.returncode == 2 and bad.stderr.startswith("error: bad.ttl") and len(bad.stderr.splitlines()) == 1


def test_tasks_explain_an_unknown_task(workdir):
    EmbeddedStore(workdir / "store").close()  # a reading command needs an existing store (issue 12: --store typo/dir)
    result = cli(["--store", str(workdir / "store"), "tasks", "--explain", "plce"], workdir)
    assert result.returncode == 2 and result.stderr == "error: no task named 'plce'; did you mean 'place'?\n"


# ------------------------------------------------------------------ sync follows
def test_sync_retrains_for_a_configuration_change_and_keeps_the_records(store, tmp_path):
    settings = mini_settings(models_dir=str(tmp_path / "models"))
    # retrain_share 0.9: the changed labels alone would not retrain the models here
    settings.sections = {"sync": {"report_dir": str(tmp_path / "reports"), "retrain_share": 0.9}}
    trainer = FakeTrainer()
    first = run_sync(store, settings, progress=False, trainer=trainer)
    assert first.trained and first.wrote
    place = f"{E}P8_took_place_on_or_within"
    spain = "https://sws.geonames.org/2510769/"

    change = config_graph.apply(store, settings, triples_of("task:place kge:minSupport 2 ."), source="place.ttl",
                                agent="alice")
    second = run_sync(store, settings, progress=False, trainer=trainer)
    # Without this retrain the old models stay: ES masked out at selection, confidences still spread over it.
    assert trainer.trained == 2 and second.retrain_reason == (
        "configuration changed: task place min support 1 -> 2; groups lost: place ES")
    assert "models trained (configuration changed: task place min support 1 -> 2" in second.summary()
    objects = {str(o) for s, p, o in store.graph_triples(PRED) if str(p) == place}
    assert objects and spain not in objects
    assert (URIRef(change.activity), RDF.type, KGS.ConfigurationChange) in set(store.graph_triples(PROV_G))

    off = config_graph.apply(store, settings, triples_of("task:place kge:minSupport 2 . task:place kge:enabled false ."),
                             agent="bob")
    third = run_sync(store, settings, progress=False, trainer=trainer)
    assert trainer.trained == 3 and "task place no longer defined (disabled or removed)" in third.retrain_reason
    assert third.withdrawn > 0 and not [o for s, p, o in store.graph_triples(PRED) if str(p) == place]
    prov = set(store.graph_triples(PROV_G))
    assert {(URIRef(a), RDF.type, KGS.ConfigurationChange) for a in (change.activity, off.activity)} <= prov
    # the records survive a sync that changes nothing, too
    fourth = run_sync(store, settings, progress=False, trainer=trainer)
    assert not fourth.trained and not fourth.wrote
    assert (URIRef(off.activity), KGS.taskChange, Literal("task place: disabled")) in set(store.graph_triples(PROV_G))


def test_a_change_that_leaves_the_models_alone_does_not_retrain(mini_store, tmp_path):
    settings = mini_settings(models_dir=str(tmp_path / "models"))
    settings.sections = {"sync": {"report_dir": str(tmp_path / "reports")}}
    trainer = FakeTrainer()
    run_sync(mini_store, settings, progress=False, trainer=trainer)
    config_graph.apply(mini_store, settings, triples_of('task:place rdfs:label "where"@en .'))
    again = run_sync(mini_store, settings, progress=False, trainer=trainer)
    assert trainer.trained == 1 and not again.trained and not again.wrote
    config_graph.apply(mini_store, settings, triples_of("task:place kge:minConfidence 0.5 ; kge:order 0 ."))
    again = run_sync(mini_store, settings, progress=False, trainer=trainer)
    assert trainer.trained == 1 and not again.trained and again.wrote  # predicted again, not trained


# ------------------------------------------------------------------ the acceptance, on SILKNOW
def quads(store) -> tuple[int, list]:
    rows = store.select("SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }")
    return int(rows[0]["n"]), store.graph_names()


@pytest.mark.silknow
def test_silknow_override_dry_run_typo_and_reset(silknow_dir):
    store = EmbeddedStore()
    for name in VOCABULARIES + ["kg/silknow-train.trig.gz"]:
        store.load_file(silknow_dir / name)
    settings = mini_settings(ontology=[])  # the shipped ontology/ directory: SILKNOW's tasks
    override = triples_of("task:place kge:minSupport 1000 .")

    before = quads(store)
    dry = config_graph.apply(store, settings, override, source="place.ttl", dry_run=True)
    assert dry.summary_lines() == [
        "apply place.ttl: the configuration graph gets 1 triple (1 added, 0 removed)",
        "task place: kge:minSupport 150 -> 1000",
        "label groups (kept for training, with their labelled artifacts):",
        "  place: 9 -> 3 groups, 7,802 -> 5,650 labelled artifacts",
        "    lost: CN 229, GB 910, IN 310, IR 312, JP 229, TR 162",
        "    kept: ES 1,469, FR 2,442, IT 1,739",
        "dry run: nothing written"]
    assert quads(store) == before

    with pytest.raises(TaskDefinitionError, match=r"unknown term kge:minSuport; did you mean kge:minSupport\?"):
        config_graph.apply(store, settings, triples_of("task:place kge:minSuport 1000 ."))
    assert quads(store) == before

    config_graph.apply(store, settings, override, source="place.ttl")
    # what `kgenrich labels --json --task place` prints: only groups with at least 1,000 labelled artifacts
    place = labels_json(load_inputs(store, settings, with_inputs=False, task_names=["place"],
                                    progress=False).labels)["tasks"][0]
    assert place["min_support"] == 1000
    assert {g["id"]: g["support"] for g in place["groups"]} == {"ES": 1469, "FR": 2442, "IT": 1739}
    assert len(place["dropped"]) == 6 and all(g["support"] < 1000 for g in place["dropped"])

    reset = config_graph.reset(store, settings)
    assert "  place: 3 -> 9 groups, 5,650 -> 7,802 labelled artifacts" in reset.summary_lines()
    assert [(t.name, t.min_support) for t in load_tasks(store, settings)] == [
        ("material", 150), ("technique", 150), ("place", 150), ("time", 150), ("depiction", 150)]
