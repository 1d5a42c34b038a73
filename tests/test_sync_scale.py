"""The streamed, incremental write-back: chunks, per-chunk validation, proportional writes,
staging graphs that hold no data, a first write bulk-loaded, and the N-Triples builder."""

from __future__ import annotations

import re

import pytest
from helpers import MINI, mini_settings
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF, XSD
from servers import FakeEnsemble, FakeTrainer
from test_predictions import AGENTS, GROUPS, LABELS, PROBS, TASKS, records
from test_sync import PRED, PROV_G, _material_prediction, graph_fingerprints

from kgenrich import sparql, validation
from kgenrich.errors import StoreError
from kgenrich.namespaces import PROV, SILK
from kgenrich.prediction_triples import agent_lines, build_triples, prediction_lines
from kgenrich.predictions import SelectionOptions, select_predictions
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.sync import run_sync, swap_shards

E = "http://erlangen-crm.org/current/"
TIME = Literal("2024-01-01T00:00:00Z", datatype=XSD.dateTime)


def _store():
    store = EmbeddedStore(None)
    store.load_file(MINI)
    return store


def _settings(tmp_path, **sync):
    settings = mini_settings(models_dir=str(tmp_path / "models"))
    settings.sections = {"sync": {"report_dir": str(tmp_path / "reports"), **sync}}
    return settings


def _live(store, graph=PRED):
    """The live graph without the times of writing (two runs differ only there)."""
    return {(s, p, o) for s, p, o in store.graph_triples(graph) if p != PROV.atTime}


class CardTrainer(FakeTrainer):
    """A fake trainer that, like the real one, can read its card without loading the models."""

    loads = 0

    def card(self, models_dir):
        return FakeTrainer.load(self, models_dir, None).card

    def describe(self, card, task):
        return FakeEnsemble(card["groups"], self.version).describe(task)

    def load(self, models_dir, settings):
        type(self).loads += 1
        return super().load(models_dir, settings)


# ------------------------------------------------------------------ the N-Triples builder
def test_prediction_lines_are_the_triples_of_build_triples():
    preds = select_predictions(records(), PROBS, GROUPS, TASKS, LABELS, AGENTS, SelectionOptions(top_k=2))
    chunk = prediction_lines(preds, AGENTS.values(), at_time=TIME)
    graph = Graph()
    graph.parse(data="".join(chunk.lines() + agent_lines(AGENTS.values())), format="nt")
    assert set(graph) == set(build_triples(preds, AGENTS.values(), at_time=TIME))
    # the reified part holds no plain triple: every data-like triple is in `derived`
    reified = Graph().parse(data="".join(chunk.reified), format="nt")
    assert not {p for _, p, _ in reified} & {URIRef(t.property) for t in TASKS}
    minted = Graph().parse(data="".join(chunk.minted), format="nt")
    assert {str(p).rsplit("#", 1)[1] for _, p, _ in minted} == {"mintedClass", "mintedLink", "mintedFor"}
    assert len(chunk.statements) == len(preds)


# ------------------------------------------------------------------ validation, chunk by chunk
@pytest.mark.parametrize("engine", ["sparql", "shacl"])
def test_validation_per_chunk_reports_what_the_whole_graph_shows(engine):
    store = EmbeddedStore(None)
    store.load_bytes("".join(f"<http://example.org/prod/{i}> <{RDF.type}> <{E}E12_Production> .\n"
                             for i in (1, 2)).encode(), "ntriples", graph=URIRef("http://example.org/museum"))
    preds = select_predictions(records(), PROBS, GROUPS, TASKS, LABELS, AGENTS)
    halves = [prediction_lines(preds[:2], AGENTS.values(), TIME), prediction_lines(preds[2:], AGENTS.values(), TIME)]
    # break one rule in each chunk: a confidence missing, an object that is no group's concept
    halves[0].reified = [line for line in halves[0].reified if "L18" not in line or line != halves[0].reified[4]]
    halves[1].reified = [line.replace("http://example.org/depiction/c", "http://example.org/elsewhere/c")
                         for line in halves[1].reified]
    validator = validation.ChunkValidator(store, TASKS, LABELS, agent_lines(AGENTS.values()), engine=engine)
    for half in halves:
        validator.check(half.lines(), half.subjects, len(half.statements))
    chunked = validator.report()
    whole_lines = "".join(halves[0].lines() + halves[1].lines() + agent_lines(AGENTS.values()))
    whole = validation.validate_in_store(store, list(Graph().parse(data=whole_lines, format="nt")), TASKS, LABELS,
                                         engine=engine)
    assert not chunked.conforms and chunked.pairs() == whole.pairs()
    assert {"statement-confidence", "statement-object-concept"} <= chunked.rules()


# ------------------------------------------------------------------ chunks
def test_a_sync_in_chunks_of_one_artifact_writes_what_one_chunk_writes(tmp_path):
    one, many = _store(), _store()
    r1 = run_sync(one, _settings(tmp_path / "a"), progress=False, trainer=FakeTrainer())
    r2 = run_sync(many, _settings(tmp_path / "b", chunk_size=1), progress=False, trainer=FakeTrainer())
    assert r1.chunks == 1 and r2.chunks > 1
    assert _live(one) == _live(many) and r1.predictions == r2.predictions
    assert r1.write == r2.write == "bulk"
    assert set(r1.stages) >= {"extraction", "label_groups", "training", "fingerprints", "prediction",
                              "building", "validation", "staging", "swap"}
    assert all(r1.peak_mb[s] > 0 for s in r1.stages)


# ------------------------------------------------------------------ incremental = proportional
class Recording(EmbeddedStore):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.writes = []

    def update_with_data(self, operations, data):
        self.writes.append((list(operations), [(g, p.read_text()) for g, p in data]))
        super().update_with_data(operations, data)


def test_an_edit_rewrites_that_artifact_only_and_no_change_never_loads_the_models(tmp_path):
    store = Recording(None)
    store.load_file(MINI)
    settings = _settings(tmp_path, retrain_share=1.0)
    trainer = CardTrainer()
    first = run_sync(store, settings, progress=False, trainer=trainer)
    CardTrainer.loads = 0
    same = run_sync(store, settings, progress=False, trainer=trainer)
    assert not same.wrote and CardTrainer.loads == 0  # the card was enough
    # a curator adds a description to one artifact with predictions
    _, obj = _material_prediction(store)
    museum = store.select(sparql.bind("SELECT ?g WHERE { GRAPH ?g { $obj a ?c } }", {"obj": obj}))[0]["g"]
    edit = f'INSERT DATA {{ GRAPH <{museum}> {{ <{obj}> <{E}P3_has_note> "a new note"@en }} }}'
    store.update(edit)
    store.writes.clear()
    report = run_sync(store, settings, progress=False, trainer=trainer)
    assert report.repredicted_artifacts == 1 and report.write == "update" and not report.replaced_all
    assert report.predictions == first.predictions and CardTrainer.loads == 1
    (operations, data), = store.writes
    removed = set(re.findall(r"<([^>]+)>", operations[0].split("VALUES ?x {", 1)[1].split("}", 1)[0]))
    # what was removed is exactly what the live graph held from that artifact's inputs
    used = {str(a) for a, _, o in store.graph_triples(PRED) if o == obj}
    statements = {str(s) for s, _, a in store.graph_triples(PRED) if str(a) in used}
    subjects = {str(o) for s, p, o in store.graph_triples(PRED) if str(s) in statements and p == RDF.subject}
    # (and the artifact's own triples there: links kgenrich minted from it, plain triples on it)
    assert removed == used | statements | subjects | {str(obj)}
    added = data[0][1]
    assert added.count(f"<{RDF.Statement}>") == len(statements)  # the artifact's new statements, nothing else
    # and the result is what a sync from scratch writes
    fresh = _store()
    fresh.update(edit)
    run_sync(fresh, _settings(tmp_path / "fresh", retrain_share=1.0), progress=False, trainer=FakeTrainer())
    assert _live(store) == _live(fresh)


# ------------------------------------------------------------------ staging graphs are not data
def test_staging_graphs_hold_no_data_and_the_example_queries_ignore_them(tmp_path):
    store = _store()
    settings = _settings(tmp_path)
    run_sync(store, settings, progress=False, trainer=FakeTrainer())
    before = sorted(tuple(sorted(r.items())) for r in store.select(sparql.load("examples/asserted_or_predicted")))
    high = store.select(sparql.prepare("examples/predictions_above_confidence",
                                       threshold=Literal("0", datatype=XSD.float)))
    # new models: a sharded run stages every prediction again, and stops before the swap
    staged = run_sync(store, settings, progress=False, trainer=FakeTrainer(version="2"), shard=(0, 1),
                      run_id="run-1")
    assert staged.write == "staged" and not staged.wrote
    staging = [g for g in store.graph_names() if "/staging/" in str(g)]
    assert staging
    properties = {URIRef(E + p) for p in ("P126_employed", "P32_used_general_technique", "P8_took_place_on_or_within",
                                          "P4_has_time-span", "P65_shows_visual_item", "P108_has_produced")}
    for g in staging:
        triples = list(store.graph_triples(g))
        # no museum property, and nothing typed but statements, activities, agents and kgenrich's own nodes
        assert not {p for _, p, _ in triples} & properties
        assert {o for _, p, o in triples if p == RDF.type} <= {RDF.Statement, PROV.Activity, PROV.SoftwareAgent,
                                                               URIRef("https://w3id.org/kgenrich/sync#Withdrawn")}
    # consumers see exactly what they saw before the run
    after = sorted(tuple(sorted(r.items())) for r in store.select(sparql.load("examples/asserted_or_predicted")))
    assert after == before
    assert len(store.select(sparql.prepare("examples/predictions_above_confidence",
                                           threshold=Literal("0", datatype=XSD.float)))) == len(high)
    # the one swap makes the new predictions live and leaves no staging graph
    merged = swap_shards(store, settings, "run-1", [staged])
    assert merged.wrote and not [g for g in store.graph_names() if "/staging/" in str(g)]
    side = store.select(sparql.load("examples/asserted_or_predicted"))
    assert sum(1 for r in side if str(r["source"]) == "predicted") == merged.predictions
    assert sum(1 for r in side if str(r["source"]) == "asserted") == sum(
        1 for r in before if dict(r)["source"] == Literal("asserted"))
    fresh = _store()
    run_sync(fresh, _settings(tmp_path / "fresh"), progress=False, trainer=FakeTrainer(version="2"))
    assert _live(store) == _live(fresh)
    assert graph_fingerprints(store, skip={str(PRED), str(PROV_G)}) == graph_fingerprints(
        fresh, skip={str(PRED), str(PROV_G)})


# ------------------------------------------------------------------ the bulk first write
class DiesAtState(EmbeddedStore):
    """Bulk loads go through; the state node's transaction is 'killed'."""

    def update_with_data(self, operations, data):
        raise StoreError("simulated crash before the state")


def test_a_killed_first_write_is_replaced_by_the_next_sync(tmp_path):
    dying = DiesAtState(None)
    dying.load_file(MINI)
    settings = _settings(tmp_path)
    with pytest.raises(StoreError, match="simulated"):
        run_sync(dying, settings, progress=False, trainer=FakeTrainer())
    assert list(dying.graph_triples(PRED))  # part of the first write is there, but no state says it is complete
    healthy = EmbeddedStore(None)
    for g in dying.graph_names():
        healthy.replace_graph(g, list(dying.graph_triples(g)))
    report = run_sync(healthy, settings, progress=False, trainer=FakeTrainer())
    assert report.replaced_all and report.wrote and report.write == "update"
    fresh = _store()
    run_sync(fresh, _settings(tmp_path / "fresh"), progress=False, trainer=FakeTrainer())
    assert _live(healthy) == _live(fresh)
    again = run_sync(healthy, settings, progress=False, trainer=FakeTrainer())
    assert not again.wrote


def test_atomic_first_write_is_one_transaction(tmp_path):
    store = _store()
    report = run_sync(store, _settings(tmp_path, atomic_first_write=True), progress=False, trainer=FakeTrainer())
    assert report.write == "load" and report.wrote
    assert report.predictions == len({s for s, p, o in store.graph_triples(PRED) if p == SILK.L18})


# ------------------------------------------------------------------ the no-change check by store digest
def test_an_unchanged_store_is_recognised_by_its_digest_and_any_edit_is_not(tmp_path):
    store = _store()
    settings = _settings(tmp_path)
    first = run_sync(store, settings, progress=False, trainer=FakeTrainer())
    quick = run_sync(store, settings, progress=False, trainer=FakeTrainer())
    # nothing extracted, no label groups computed: the store's digest matched the last run's
    assert "label_groups" not in quick.stages and not quick.wrote
    assert (quick.artifacts, quick.gaps, quick.predictions) == (first.artifacts, first.gaps, first.predictions)
    # a triple no prediction reads: the full check runs, finds nothing to predict, refreshes the key
    store.update('INSERT DATA { GRAPH <https://w3id.org/kgenrich/test/graph/museum-a> { '
                 '<https://w3id.org/kgenrich/test/object/a1> <http://www.w3.org/2000/01/rdf-schema#label> "x" } }')
    before = _live(store)
    full = run_sync(store, settings, progress=False, trainer=FakeTrainer())
    assert "label_groups" in full.stages and not full.wrote and full.repredicted_artifacts == 0
    assert _live(store) == before
    assert "label_groups" not in run_sync(store, settings, progress=False, trainer=FakeTrainer()).stages
    # a graph of kgenrich's that sync reads (the configuration graph) is part of the digest too
    store.update('INSERT DATA { GRAPH <https://w3id.org/kgenrich/config> { '
                 '<https://w3id.org/kgenrich/config> <http://www.w3.org/2000/01/rdf-schema#comment> "edited" } }')
    assert "label_groups" in run_sync(store, settings, progress=False, trainer=FakeTrainer()).stages
    # an edit the predictions read: never taken for no change
    _, obj = _material_prediction(store)
    museum = store.select(sparql.bind("SELECT ?g WHERE { GRAPH ?g { $obj a ?c } }", {"obj": obj}))[0]["g"]
    store.update(f'INSERT DATA {{ GRAPH <{museum}> {{ <{obj}> <{E}P3_has_note> "changed"@en }} }}')
    edited = run_sync(store, _settings(tmp_path, retrain_share=1.0), progress=False, trainer=FakeTrainer())
    assert edited.wrote and edited.repredicted_artifacts == 1


# ------------------------------------------------------------------ the demo's store keeps the demo's models
def test_a_store_with_recorded_model_settings_gives_them_to_every_command(tmp_path):
    from kgenrich.cli_util import AppContext
    from kgenrich.demo.run import demo_model_preset
    from kgenrich.namespaces import CONFIG_GRAPH
    from kgenrich.training import demo_model_settings, model_config

    store_dir = tmp_path / "store"
    store = EmbeddedStore(store_dir)
    store.load_file(MINI)
    store.load_bytes(demo_model_preset(demo_model_settings()), "ntriples", graph=CONFIG_GRAPH)
    store.close()
    settings = mini_settings(store=str(store_dir))
    settings.sections = {"models": {"text": {"epochs": 3}}}  # the user's own table wins, key by key
    app = AppContext(settings)
    app.open_store()
    cfg = model_config(app.settings)
    app.close()
    assert cfg["image"]["backbone"] == "efficientnet_lite0" and cfg["image"]["size"] == demo_model_settings()["image"]["size"]
    assert cfg["text"]["epochs"] == 3 and cfg["text"]["model"] == "use"
    # a store without them: the defaults for real collections
    plain = AppContext(mini_settings(store=str(tmp_path / "plain")))
    plain.open_store()
    assert model_config(plain.settings)["image"]["backbone"] == "auto"
    plain.close()


def test_config_apply_and_reset_keep_the_recorded_model_settings_and_tasks_ignore_them(tmp_path):
    from kgenrich.config_graph import apply, reset
    from kgenrich.demo.run import demo_model_preset
    from kgenrich.namespaces import CONFIG_GRAPH, KGE, TASK
    from kgenrich.pipeline import store_model_settings
    from kgenrich.tasks import load_tasks
    from kgenrich.training import demo_model_settings

    store = EmbeddedStore(None)
    store.load_file(MINI)
    store.load_bytes(demo_model_preset(demo_model_settings()), "ntriples", graph=CONFIG_GRAPH)
    settings = mini_settings(models_dir=str(tmp_path / "models"))
    assert {t.name for t in load_tasks(store, settings)}  # the settings triple is no task definition
    change = apply(store, settings, [(TASK.material, KGE.minSupport, Literal(2, datatype=XSD.integer))])
    assert change.written and change.added == 1 and change.removed == 0
    assert store_model_settings(store) == demo_model_settings()
    reset(store, settings)
    assert store_model_settings(store) == demo_model_settings()
    assert len(list(store.graph_triples(CONFIG_GRAPH))) == 1
