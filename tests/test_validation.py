"""The SHACL gate: each rule of shapes/predictions.ttl is broken once, and both
engines (pySHACL and the equivalent SPARQL checks) must report exactly it."""

from __future__ import annotations

import pytest
from rdflib import BNode, Literal, URIRef
from rdflib.namespace import RDF, RDFS, XSD
from test_predictions import GROUPS, LABELS, PROBS, TASKS, records

from kgenrich import validation
from kgenrich.namespaces import ECRM, PROV, SILK
from kgenrich.prediction_triples import build_triples
from kgenrich.predictions import Agent, agent_iri, select_predictions
from kgenrich.store.embedded import EmbeddedStore

AGENTS = {t.name: Agent(str(agent_iri(t.name, "fp")), t.name, f"model for {t.name}") for t in TASKS}
TIME = Literal("2024-05-01T12:00:00Z", datatype=XSD.dateTime)
PROD1 = URIRef("http://example.org/prod/1")


def valid_graph():
    preds = select_predictions(records(), PROBS, GROUPS, TASKS, LABELS, AGENTS)
    triples = build_triples(preds, AGENTS.values(), at_time=TIME)
    context = validation.task_context(TASKS, LABELS) + [
        (PROD1, RDF.type, ECRM.E12_Production),
        # a subclass of the task class counts
        (URIRef("http://example.org/obj/1"), RDF.type, URIRef("http://example.org/Textile")),
        (URIRef("http://example.org/Textile"), RDFS.subClassOf, URIRef(ECRM["E22_Man-Made_Object"])),
        (URIRef("http://example.org/obj/2"), RDF.type, URIRef(ECRM["E22_Man-Made_Object"])),
    ]
    return preds, triples, context


def a_statement(preds, task="material", artifact="/1"):
    return next(p for p in preds if p.task == task and p.artifact.endswith(artifact))


def both(triples, context):
    shacl = validation.validate(triples, context, engine="shacl")
    sparql_ = validation.validate(triples, context, engine="sparql")
    assert shacl.pairs() == sparql_.pairs(), (shacl.text(), sparql_.text())
    return shacl


def test_valid_graph_conforms_in_both_engines():
    _, triples, context = valid_graph()
    assert both(triples, context).conforms


def _replace(triples, old, new=None):
    out = [t for t in triples if t != old]
    assert len(out) == len(triples) - 1, f"{old} not in the graph"
    if new is not None:
        out.append(new)
    return out


def _mutations():
    """(rule broken, function(preds, triples) -> (triples, expected focus))."""

    def subject_missing(preds, tr):
        p = a_statement(preds)
        return _replace(tr, (p.statement, RDF.subject, PROD1)), p.statement

    def two_subjects(preds, tr):
        p = a_statement(preds)
        return tr + [(p.statement, RDF.subject, URIRef("http://example.org/prod/2"))], p.statement

    def predicate_missing(preds, tr):
        p = a_statement(preds)
        return _replace(tr, (p.statement, RDF.predicate, ECRM.P126_employed)), p.statement

    def object_literal(preds, tr):
        p = a_statement(preds)
        o = URIRef(p.object)
        return _replace(tr, (p.statement, RDF.object, o), (p.statement, RDF.object, Literal(str(o)))), p.statement

    def confidence_out_of_range(preds, tr):
        p = a_statement(preds)
        old = next(t for t in tr if t[0] == p.statement and t[1] == SILK.L18)
        return _replace(tr, old, (p.statement, SILK.L18, Literal("1.5", datatype=XSD.float))), p.statement

    def confidence_not_float(preds, tr):
        p = a_statement(preds)
        old = next(t for t in tr if t[0] == p.statement and t[1] == SILK.L18)
        return _replace(tr, old, (p.statement, SILK.L18, Literal("0.5", datatype=XSD.decimal))), p.statement

    def activity_missing(preds, tr):
        p = a_statement(preds)
        return _replace(tr, (p.statement, PROV.wasGeneratedBy, p.activity)), p.statement

    def subject_wrong_class(preds, tr):
        # the production of obj/1 is typed as an artifact instead
        p = a_statement(preds)
        return tr, p.statement

    def object_not_a_group_concept(preds, tr):
        p = a_statement(preds)
        wrong = URIRef("http://example.org/depiction/c0")  # a concept of another task
        tr = _replace(tr, (p.statement, RDF.object, URIRef(p.object)), (p.statement, RDF.object, wrong))
        tr = _replace(tr, (PROD1, ECRM.P126_employed, URIRef(p.object)), (PROD1, ECRM.P126_employed, wrong))
        return tr, p.statement

    def plain_triple_missing(preds, tr):
        p = a_statement(preds)
        return _replace(tr, (PROD1, ECRM.P126_employed, URIRef(p.object))), p.statement

    def duplicate_statement(preds, tr):
        p = a_statement(preds)
        twin = URIRef("http://example.org/statement/twin")
        extra = [(twin, pr, o) for s, pr, o in tr if s == p.statement]
        return tr + extra, p.statement

    def activity_time_missing(preds, tr):
        p = a_statement(preds)
        return _replace(tr, (p.activity, PROV.atTime, TIME)), p.activity

    def activity_agent_missing(preds, tr):
        p = a_statement(preds)
        return _replace(tr, (p.activity, PROV.wasAssociatedWith, URIRef(p.agent))), p.activity

    def activity_used_missing(preds, tr):
        p = a_statement(preds, artifact="/3")
        return _replace(tr, (p.activity, PROV.used, URIRef(p.artifact))), p.activity

    def agent_description_missing(preds, tr):
        a = URIRef(AGENTS["material"].iri)
        return _replace(tr, (a, ECRM.P70_documents, Literal("model for material"))), a

    def agent_description_empty(preds, tr):
        a = URIRef(AGENTS["material"].iri)
        return _replace(tr, (a, ECRM.P70_documents, Literal("model for material")),
                        (a, ECRM.P70_documents, Literal(""))), a

    return [
        ("statement-subject", subject_missing), ("statement-subject", two_subjects),
        ("statement-predicate", predicate_missing), ("statement-object", object_literal),
        ("statement-confidence", confidence_out_of_range), ("statement-confidence", confidence_not_float),
        ("statement-activity", activity_missing), ("statement-subject-class", subject_wrong_class),
        ("statement-object-concept", object_not_a_group_concept), ("statement-plain-triple", plain_triple_missing),
        ("statement-duplicate", duplicate_statement), ("activity-time", activity_time_missing),
        ("activity-agent", activity_agent_missing), ("activity-used", activity_used_missing),
        ("agent-description", agent_description_missing), ("agent-description", agent_description_empty),
    ]


@pytest.mark.parametrize("rule,mutate", _mutations(), ids=lambda x: x if isinstance(x, str) else x.__name__)
def test_each_rule_rejects_a_graph_that_breaks_it(rule, mutate):
    preds, triples, context = valid_graph()
    triples, focus = mutate(preds, triples)
    if rule == "statement-subject-class":
        context = [t for t in context if t != (PROD1, RDF.type, ECRM.E12_Production)]
        context.append((PROD1, RDF.type, URIRef(ECRM["E22_Man-Made_Object"])))
    report = both(triples, context)
    assert not report.conforms
    assert (str(focus), rule) in report.pairs()
    # the other rules stay quiet, except where one defect is two rules' business by nature
    extra = report.rules() - {rule}
    cascade = {"statement-plain-triple", "statement-subject-class", "statement-object-concept"}
    allowed = cascade if rule in ("statement-subject", "statement-predicate", "statement-object") else set()
    assert extra <= allowed, report.text()


def test_blank_nodes_and_relative_iris_are_refused():
    _, triples, context = valid_graph()
    broken = triples + [(BNode(), RDF.type, URIRef("http://example.org/x")),
                        (URIRef("http://example.org/a"), RDFS.seeAlso, URIRef("relative"))]
    report = validation.validate(broken, context, engine="sparql")
    assert "structure" in report.rules()


def test_store_context_and_report(tmp_path):
    preds, triples, _ = valid_graph()
    store = EmbeddedStore(None)
    store.load_bytes(b"<http://example.org/prod/1> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://erlangen-crm.org/current/E12_Production> .\n"
                     b"<http://example.org/obj/1> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://erlangen-crm.org/current/E22_Man-Made_Object> .\n"
                     b"<http://example.org/obj/2> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://erlangen-crm.org/current/E22_Man-Made_Object> .\n",
                     "ntriples", graph=URIRef("http://example.org/museum"))
    report = validation.validate_in_store(store, triples, TASKS, LABELS)
    assert report.conforms, report.text()
    # without the production's class in the store, the gate closes
    store.drop_graph(URIRef("http://example.org/museum"))
    report = validation.validate_in_store(store, triples, TASKS, LABELS, engine="sparql")
    assert "statement-subject-class" in report.rules()
    path = report.save(tmp_path / "r.json")
    assert path.is_file() and path.with_suffix(".txt").read_text().startswith("DOES NOT CONFORM")
    with pytest.raises(Exception) as err:
        validation.require(report)
    assert getattr(err.value, "exit_code", None) == 3
