"""The review graph for people and programs outside kgenrich: CSV (one row per review, the whole
history, with labels) and JSON-LD (the review graph's triples, with a context)."""

from __future__ import annotations

import csv
import io
import json

from rdflib import Graph

from ..graphs import OwnGraphs
from ..namespaces import FOAF, KGR, PROV
from ..store import Store

FORMATS = ("csv", "jsonld")
COLUMNS = ("review", "time", "reviewer", "decision", "task", "artifact", "artifact_label", "museum", "statement",
           "proposed", "proposed_label", "confidence", "chosen", "chosen_label", "revises", "revised_by", "batch",
           "current")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonld": "application/ld+json"}


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("true" if v is True else "false" if v is False else v) for k, v in row.items()})
    return out.getvalue()


def to_jsonld(store: Store, graphs: OwnGraphs) -> str:
    graph = Graph()
    for triple in store.graph_triples(graphs.reviews):
        graph.add(triple)
    context = {"kgr": str(KGR), "prov": str(PROV), "foaf": str(FOAF),
               "xsd": "http://www.w3.org/2001/XMLSchema#"}
    text = graph.serialize(format="json-ld", context=context, indent=1)
    # rdflib returns "[]"-like output for an empty graph; keep it a JSON-LD document either way.
    data = json.loads(text)
    if isinstance(data, list):
        data = {"@context": context, "@graph": data}
    data["@id"] = str(graphs.reviews)
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"
