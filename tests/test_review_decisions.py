"""Curators' decisions as RDF, without the web page: what a decision writes, what it refuses,
and what the next sync makes of it (embedded store; the remote path in test_review_app.py)."""

from __future__ import annotations

import hashlib
import threading

import numpy as np
import pytest
from helpers import MINI, mini_settings
from rdflib import URIRef
from rdflib.namespace import RDF
from servers import FakeTrainer

from kgenrich import sparql
from kgenrich.errors import StoreError
from kgenrich.namespaces import KGR, PROV
from kgenrich.pipeline import load_inputs
from kgenrich.predictions import Agent, SelectionOptions, select_predictions
from kgenrich.records import ArtifactRecord
from kgenrich.review import decisions as D
from kgenrich.review.feedback import fold_rejections
from kgenrich.review.reading import Reader
from kgenrich.review.users import UsersFile, check_password, hash_password
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.sync import run_sync
from kgenrich.task_types import Group, Task, TaskLabels

PRED = "http://data.silknow.org/predictions"
REVIEWS = URIRef(PRED + "/reviews")
CURATED = URIRef(PRED + "/curated")
VOC = "https://w3id.org/kgenrich/test/vocabulary/"


def graph_hash(store, graph) -> str:
    lines = sorted(sparql.ntriples_line(*t) for t in store.graph_triples(graph))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def all_graphs(store) -> dict[str, str]:
    return {str(g): graph_hash(store, g) for g in store.graph_names()}


@pytest.fixture
def reviewed(tmp_path):
    """The mini collection, synced with a fake ensemble, and a reader over it."""
    store = EmbeddedStore(None)
    store.load_file(MINI)
    settings = mini_settings(models_dir=str(tmp_path / "models"))
    settings.sections = {"sync": {"report_dir": str(tmp_path / "reports")}}
    trainer = FakeTrainer()
    run_sync(store, settings, progress=False, trainer=trainer)
    reader = Reader(store, settings)
    return store, settings, trainer, reader


def decide(reader, statement, decision, value=None, who="alice"):
    c = reader.collection()
    return D.decide(reader.store, reader.graphs, c.tasks, c.groups, c.classes, D.Reviewer(who), statement, decision,
                    value, confidence=c.confidence)


def pending(reader, task=None):
    return [i for i in reader.queue(limit=100)["items"] if task is None or i["task"] == task]


def test_accept_writes_one_review_and_the_curated_value_with_provenance(reviewed):
    store, _, _, reader = reviewed
    item = pending(reader, "material")[0]
    before = all_graphs(store)
    outcome = decide(reader, item["statement"], "accepted")
    assert outcome.recorded and outcome.value == item["value"]
    review = URIRef(outcome.review)
    triples = set(store.graph_triples(REVIEWS))
    assert (review, RDF.type, KGR.Review) in triples and (review, RDF.type, PROV.Activity) in triples
    assert (review, KGR.reviewed, URIRef(item["statement"])) in triples
    assert (review, KGR.decision, KGR.accepted) in triples
    assert (review, KGR.chosenValue, URIRef(item["value"])) in triples
    reviewer = next(o for s, p, o in triples if s == review and p == PROV.wasAssociatedWith)
    assert (reviewer, RDF.type, PROV.Person) in triples
    assert any(s == review and p == PROV.endedAtTime for s, p, o in triples)
    curated = set(store.graph_triples(CURATED))
    # the value itself, with the task's property path (production -> artifact), and its derivation
    assert (URIRef(item["subject"]), URIRef(item["predicate"]), URIRef(item["value"])) in curated
    assert (URIRef(item["subject"]), URIRef("http://erlangen-crm.org/current/P108_has_produced"),
            URIRef(item["artifact"])) in curated
    derived = [s for s, p, o in curated if p == PROV.wasDerivedFrom and o == URIRef(item["statement"])]
    assert len(derived) == 1 and (derived[0], PROV.wasGeneratedBy, review) in curated
    # nothing else changed: no museum graph, not the predictions
    after = all_graphs(store)
    assert {g: h for g, h in after.items() if g not in (str(REVIEWS), str(CURATED))} == before
    # the decision conforms to shapes/reviews.ttl as stored
    assert D.shacl_violations(list(store.graph_triples(REVIEWS)) + list(curated),
                              D.decision_context([], [(reader.collection().task("material"), item["value"])])) == []
    # the artifact's page shows the accepted value as curated at once (the collection read before
    # the decision is still cached; the record is read through the pipeline with the curated graph as it is now)
    page = reader.artifact(item["artifact"], with_scores=False)
    material = next(t for t in page["tasks"] if t["task"] == "material")
    assert [v["value"] for v in material["curated"]] == [item["value"]] and not material["asserted"]


def test_reject_writes_the_review_only(reviewed):
    store, _, _, reader = reviewed
    item = pending(reader)[0]
    decide(reader, item["statement"], "rejected")
    assert not list(store.graph_triples(CURATED))
    rows = store.select(sparql.prepare("review_rejected", graph=REVIEWS))
    assert [(str(r["artifact"]), str(r["value"])) for r in rows] == [(item["artifact"], item["value"])]


def test_shapes_catch_a_broken_decision(reviewed):
    _, _, _, reader = reviewed
    item = pending(reader, "material")[0]
    proposal = D.read_proposal(reader.store, reader.graphs, reader.collection().tasks, reader.collection().classes,
                               item["statement"], confidence=reader.collection().confidence)
    good = D.prepare(proposal, "accepted", D.Reviewer("alice"))
    context = D.decision_context([good], [(proposal.task, item["value"])])
    assert D.shacl_violations(good.review_triples + good.curated_triples, context) == []
    # an accepted review without its curated value, and without a reviewer name
    broken = [t for t in good.review_triples if t[1] != URIRef("http://xmlns.com/foaf/0.1/name")]
    problems = D.shacl_violations(broken, context)
    assert any("curated value" in p for p in problems) and any("name" in p for p in problems)
    # a curated value outside the task's values
    assert any("not one of its task's values" in p
               for p in D.shacl_violations(good.review_triples + good.curated_triples, []))


def test_correction_outside_the_task_values_is_refused_and_nothing_written(reviewed):
    store, _, _, reader = reviewed
    item = pending(reader, "material")[0]
    before = all_graphs(store)
    for value in (VOC + "paper",  # in no group of the task
                  VOC + "damask",  # a technique, not a material
                  "not an iri"):
        with pytest.raises(D.ReviewError):
            decide(reader, item["statement"], "corrected", value)
    assert all_graphs(store) == before


def test_correction_to_a_finer_concept_of_another_group(reviewed):
    store, _, _, reader = reviewed
    item = pending(reader, "material")[0]
    target = VOC + ("silk" if "vegetal" in item["value"] else "linen")
    outcome = decide(reader, item["statement"], "corrected", target)
    assert outcome.decision == "corrected" and outcome.value == target
    assert (URIRef(item["subject"]), URIRef(item["predicate"]), URIRef(target)) in set(store.graph_triples(CURATED))


def test_decision_on_a_statement_that_is_gone_writes_nothing(reviewed):
    store, _, _, reader = reviewed
    item = pending(reader)[0]
    # the live graph changes under the page: the statement disappears
    store.update(sparql.bind("DELETE WHERE { GRAPH $g { $st ?p ?o } }",
                             {"g": URIRef(PRED), "st": URIRef(item["statement"])}))
    before = all_graphs(store)
    with pytest.raises(D.StatementGone):
        decide(reader, item["statement"], "accepted")
    assert all_graphs(store) == before


def test_a_second_decision_on_the_same_statement_is_refused(reviewed):
    store, _, _, reader = reviewed
    item = pending(reader)[0]
    decide(reader, item["statement"], "accepted", who="alice")
    again = decide(reader, item["statement"], "accepted", who="alice")  # a double click: done already
    assert not again.recorded
    with pytest.raises(D.AlreadyDecided, match="already accepted by alice"):
        decide(reader, item["statement"], "rejected", who="bob")
    assert len(D.decisions_on(store, reader.graphs, item["statement"])) == 1


def test_two_reviewers_at_once_one_wins(reviewed):
    store, _, _, reader = reviewed
    item = pending(reader)[0]
    results, barrier = [], threading.Barrier(2)

    def worker(who, decision):
        barrier.wait()
        try:
            results.append(decide(reader, item["statement"], decision, who=who).reviewer)
        except D.AlreadyDecided as exc:
            results.append(exc)

    threads = [threading.Thread(target=worker, args=a) for a in (("alice", "accepted"), ("bob", "rejected"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(r, str) for r in results) == 1 and sum(isinstance(r, D.AlreadyDecided) for r in results) == 1
    assert len(D.decisions_on(store, reader.graphs, item["statement"])) == 1


def test_the_update_itself_refuses_a_concurrent_writer_and_a_retry_is_harmless(reviewed):
    """The guard is in the store request, not only in this process: another server's decision
    that lands between our check and our write makes ours a no-op; repeating ours adds nothing."""
    store, _, _, reader = reviewed
    item = pending(reader)[0]
    c = reader.collection()
    proposal = D.read_proposal(store, reader.graphs, c.tasks, c.classes, item["statement"], confidence=c.confidence)
    ours = D.prepare(proposal, "accepted", D.Reviewer("alice"))
    theirs = D.prepare(proposal, "rejected", D.Reviewer("bob"))
    D.write(store, reader.graphs, theirs, D.Reviewer("bob"))
    with pytest.raises(D.AlreadyDecided, match="rejected by bob"):
        D.write(store, reader.graphs, ours, D.Reviewer("alice"))
    assert not list(store.graph_triples(CURATED))
    before = all_graphs(store)
    D.write(store, reader.graphs, theirs, D.Reviewer("bob"))  # the same request again (a retry)
    assert all_graphs(store) == before


class DownStore(EmbeddedStore):
    """A store whose update endpoint is gone (reads still answer, as when only the update side fails)."""

    def update(self, text: str, *, idempotent: bool = False) -> None:
        raise StoreError("cannot reach http://127.0.0.1:9/update: connection failed (after 4 attempt(s))")


def test_store_down_while_writing_is_a_store_error_and_nothing_half_written(reviewed):
    store, _, _, reader = reviewed
    item = pending(reader)[0]
    before = all_graphs(store)
    store.__class__ = DownStore
    with pytest.raises(StoreError, match="cannot reach"):
        decide(reader, item["statement"], "accepted")
    store.__class__ = EmbeddedStore
    assert all_graphs(store) == before


def test_next_sync_closes_accepted_and_corrected_gaps_and_never_reproposes_a_rejected_value(reviewed):
    store, settings, trainer, reader = reviewed
    items = pending(reader)
    material = next(i for i in items if i["task"] == "material")
    places = [i for i in items if i["task"] == "place"]
    times = [i for i in items if i["task"] == "time"]
    accepted, rejected = places[0], times[0]
    decide(reader, accepted["statement"], "accepted")
    decide(reader, rejected["statement"], "rejected")
    target = VOC + ("silk" if "vegetal" in material["value"] else "linen")
    decide(reader, material["statement"], "corrected", target)
    kept = {str(g): graph_hash(store, g) for g in (REVIEWS, CURATED)}

    report = run_sync(store, settings, progress=False, trainer=trainer)
    assert report.wrote
    live = store.select(sparql.bind(
        "PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> SELECT ?s ?p ?o WHERE { GRAPH $g { "
        "?st a rdf:Statement ; rdf:subject ?s ; rdf:predicate ?p ; rdf:object ?o } }", {"g": URIRef(PRED)}))
    live = {(str(r["s"]), str(r["p"]), str(r["o"])) for r in live}
    units = {(s, p) for s, p, _ in live}
    # accepted and corrected gaps are closed: no prediction for them any more
    assert (accepted["subject"], accepted["predicate"]) not in units
    assert (material["subject"], material["predicate"]) not in units
    # the rejected value is not proposed again; the next best group is (the fake model ranks them all)
    assert (rejected["subject"], rejected["predicate"], rejected["value"]) not in live
    assert (rejected["subject"], rejected["predicate"]) in units
    # the review and curated graphs survive the sync unchanged, and the next sync writes nothing
    assert {str(g): graph_hash(store, g) for g in (REVIEWS, CURATED)} == kept
    again = run_sync(store, settings, progress=False, trainer=trainer)
    assert not again.wrote and again.written == 0
    # the curated values are known values of their artifacts now (and training labels)
    records = {r.iri: r for r in load_inputs(store, settings, with_inputs=False, progress=False).records}
    assert records[material["artifact"]].values["material"] == [target]
    assert records[material["artifact"]].labels["material"] is not None
    assert records[accepted["artifact"]].values["place"] == [accepted["value"]]


def test_select_predictions_skips_rejected_groups():
    task = Task("material", "urn:t", "material", "urn:C", "urn:p", "collection")
    labels = {"material": TaskLabels(task, [Group("a", "A", "urn:a", ["urn:a1"]), Group("b", "B", "urn:b"),
                                            Group("c", "C", "urn:c")], [], 0)}
    records = [ArtifactRecord("urn:x", "urn:g", "g", values={"material": []}),
               ArtifactRecord("urn:y", "urn:g", "g", values={"material": []})]
    probs = {"material": np.array([[0.6, 0.3, 0.1], [0.6, 0.3, 0.1]])}
    agents = {"material": Agent("urn:agent", "material", "d")}
    picked = select_predictions(records, probs, {"material": ["a", "b", "c"]}, [task], labels, agents,
                                SelectionOptions(min_confidence=0.2), rejected={("urn:x", "material"): {"urn:a"}})
    assert {(p.artifact, p.object) for p in picked} == {("urn:x", "urn:b"), ("urn:y", "urn:a")}
    # a rejected member of a group rejects the group; below the threshold nothing is proposed
    picked = select_predictions(records, probs, {"material": ["a", "b", "c"]}, [task], labels, agents,
                                SelectionOptions(min_confidence=0.5), rejected={("urn:x", "material"): {"urn:a1"}})
    assert {(p.artifact, p.object) for p in picked} == {("urn:y", "urn:a")}


def test_fold_rejections_changes_only_the_rejected_artifacts():
    fps = {"urn:x": "1" * 32, "urn:y": "2" * 32}
    folded = fold_rejections(fps, {("urn:x", "material"): {"urn:a"}})
    assert folded["urn:y"] == fps["urn:y"] and folded["urn:x"] != fps["urn:x"]
    assert fold_rejections(fps, {("urn:x", "material"): {"urn:b"}})["urn:x"] != folded["urn:x"]


def test_users_file_salted_hashes_roles_and_atomic_writes(tmp_path):
    users = UsersFile(tmp_path / "u" / "users.json")
    assert users.add("alice", "correct horse")
    # an existing name is refused unless replacing is asked for (issue 21: it silently replaced the password)
    with pytest.raises(Exception, match="exists already.*--force"):
        users.add("alice", "battery staple")
    assert users.authenticate("alice", "correct horse") is not None
    assert not users.add("alice", "battery staple", replace=True)
    users.add("bob", "battery staple", role="readonly")
    text = (tmp_path / "u" / "users.json").read_text()
    assert "battery" not in text and "horse" not in text
    assert (tmp_path / "u" / "users.json").stat().st_mode & 0o077 == 0
    a, b = users.get("alice"), users.get("bob")
    assert a.password != b.password  # same password, different salts
    assert users.authenticate("alice", "battery staple") == a and users.authenticate("alice", "correct horse") is None
    assert users.authenticate("nobody", "x") is None
    assert a.can_decide and not b.can_decide
    assert check_password(hash_password("é ü"), "é ü") and not check_password("garbage", "x")
    with pytest.raises(Exception, match="user name"):
        users.add("bad name/../x", "password1")
    users.remove("bob")
    assert users.get("bob") is None


def test_review_settings_and_graphs(tmp_path):
    from kgenrich.config import load_settings
    from kgenrich.errors import ConfigError
    from kgenrich.graphs import OwnGraphs

    own = OwnGraphs.from_settings(mini_settings())
    assert (str(own.reviews), str(own.curated)) == (PRED + "/reviews", PRED + "/curated")
    assert own.is_ours(own.reviews) and own.is_ours(own.curated)  # never museum graphs
    for section, match in (({"curated_graph": PRED}, "curated_graph must differ from the prediction graph"),
                           ({"curated_graph": PRED + "/x", "reviews_graph": PRED + "/x"}, "differ from the reviews"),
                           ({"reviews_graph": PRED + "/provenance"}, "reviews_graph must differ")):
        settings = mini_settings()
        settings.sections = {"review": section}
        with pytest.raises(ConfigError, match=match):
            OwnGraphs.from_settings(settings)
    (tmp_path / "kgenrich.toml").write_text('[review]\ncurated_grahp = "urn:x"\n')
    with pytest.raises(ConfigError, match="did you mean 'curated_graph'"):
        load_settings(environ={}, cwd=tmp_path)
    (tmp_path / "kgenrich.toml").write_text('[review]\nbulk_limit = 0\n')
    with pytest.raises(ConfigError, match="bulk_limit"):
        load_settings(environ={}, cwd=tmp_path)
