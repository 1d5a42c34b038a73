"""Decisions on Virtuoso 7 (SILKNOW's production store): the conditional decision update, the
queue and label-search queries, and the next sync -- all through its SPARQL endpoint."""

from __future__ import annotations

import pytest
from helpers import MINI, mini_settings
from rdflib import URIRef
from servers import FakeTrainer, virtuoso  # noqa: F401  (fixture)

from kgenrich.review import decisions as D
from kgenrich.review.reading import Reader
from kgenrich.store.remote import RemoteStore
from kgenrich.sync import run_sync

PRED = "http://data.silknow.org/predictions"
TEST_GRAPHS = "https://w3id.org/kgenrich/test/"
VOC = TEST_GRAPHS + "vocabulary/"


@pytest.mark.server
def test_review_loop_on_virtuoso(virtuoso, tmp_path):
    store = RemoteStore(virtuoso.query, update_endpoint=virtuoso.update, batch_triples=40)
    for g in [g for g in store.graph_names() if str(g).startswith(TEST_GRAPHS) or str(g).startswith(PRED)]:
        store.drop_graph(g)
    store.load_file(MINI)
    settings = mini_settings(models_dir=str(tmp_path / "models"))
    settings.sections = {"sync": {"report_dir": str(tmp_path / "reports")}}
    trainer = FakeTrainer()
    run_sync(store, settings, progress=False, trainer=trainer)
    reader = Reader(store, settings)
    c = reader.collection()
    items = reader.queue(limit=100)["items"]
    assert items and [i["confidence"] for i in items] == sorted(i["confidence"] for i in items)
    assert reader.search("material", "seda")[0]["concept"] == VOC + "silk"

    def decide(item, decision, value=None, who="alice", revises=None):
        return D.decide(store, reader.graphs, c.tasks, c.groups, c.classes, D.Reviewer(who), item["statement"],
                        decision, value, revises, confidence=c.confidence)

    material = next(i for i in items if i["task"] == "material")
    accepted, rejected = [i for i in items if i["task"] != "material"][:2]
    decide(accepted, "accepted")
    decide(rejected, "rejected")  # the curated block of the update is empty: Virtuoso takes it
    decide(material, "corrected", VOC + ("silk" if "vegetal" in material["value"] else "linen"))
    with pytest.raises(D.AlreadyDecided):
        decide(accepted, "rejected", who="bob")
    assert len(list(store.graph_triples(reader.graphs.reviews))) > 0
    assert {i["statement"] for i in reader.queue(status="decided", limit=100)["items"]} == {
        accepted["statement"], rejected["statement"], material["statement"]}
    curated = set(store.graph_triples(reader.graphs.curated))
    assert (URIRef(accepted["subject"]), URIRef(accepted["predicate"]), URIRef(accepted["value"])) in curated

    # a change of mind and an undo: the withdrawal of the curated value and the new review in one request
    first = next(r for r in D.decisions_on(store, reader.graphs, accepted["statement"]))
    revised = decide(accepted, "rejected", revises=first.review)
    assert revised.revises == first.review
    assert (URIRef(accepted["subject"]), URIRef(accepted["predicate"]), URIRef(accepted["value"])) not in set(
        store.graph_triples(reader.graphs.curated))
    undone = decide(accepted, "undone", revises=revised.review)
    again = decide(accepted, "accepted")
    assert again.revises == undone.review
    assert [r.decision for r in D.decisions_on(store, reader.graphs, accepted["statement"])] == [
        "accepted", "rejected", "undone", "accepted"]
    assert (URIRef(accepted["subject"]), URIRef(accepted["predicate"]), URIRef(accepted["value"])) in set(
        store.graph_triples(reader.graphs.curated))

    run_sync(store, settings, progress=False, trainer=trainer)
    # (status "all" also lists decided predictions a sync has closed since: "live" tells them apart)
    live = {(i["subject"], i["predicate"], i["value"]) for i in Reader(store, settings).queue(status="all",
                                                                                           limit=100)["items"]
            if i["live"]}
    units = {(s, p) for s, p, _ in live}
    assert (accepted["subject"], accepted["predicate"]) not in units
    assert (material["subject"], material["predicate"]) not in units
    assert (rejected["subject"], rejected["predicate"], rejected["value"]) not in live
