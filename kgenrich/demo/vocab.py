"""The demo's vocabulary files (data/*.ttl), read into lookup tables.

The Turtle files are the single source of the labels and of the group
membership; the generator reads them here so that what the descriptions say,
what the graph asserts and what the thesaurus defines cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import RDF, SKOS
from rdflib.term import Node

from .trig import TrigDocument, iri

DATA_DIR = Path(__file__).resolve().parent / "data"
VOCAB_FILES = ("thesaurus.ttl", "places.ttl", "time.ttl")

VOC = "https://w3id.org/kgenrich/demo/vocabulary/"
PERIOD = VOC + "period/"
FACET = "http://data.silknow.org/vocabulary/facet/"
AAT = "http://vocab.getty.edu/aat/"
GN = Namespace("http://www.geonames.org/ontology#")
TIME = Namespace("http://www.w3.org/2006/time#")
LANGS = ("en", "es", "fr", "it", "ca")
FACETS = {"material": "materials", "technique": "techniques", "depiction": "depiction"}
# 15th .. 20th century, index 0 .. 5.
CENTURIES = [AAT + str(n) for n in range(300404509, 300404515)]


@dataclass
class Vocabulary:
    graph: Graph
    labels: dict[str, dict[str, str]] = field(default_factory=dict)  # IRI -> lang -> label
    group_of: dict[str, dict[str, str | None]] = field(default_factory=dict)  # task -> concept -> group id
    groups: dict[str, list[str]] = field(default_factory=dict)  # task -> group ids (facet order)
    country_code: dict[str, str] = field(default_factory=dict)  # feature IRI -> "FR"
    country_iri: dict[str, str] = field(default_factory=dict)  # "FR" -> country feature IRI
    cities: dict[str, list[str]] = field(default_factory=dict)  # "FR" -> city feature IRIs
    period_century: dict[str, str | None] = field(default_factory=dict)  # period IRI -> century IRI
    broader: dict[str, str] = field(default_factory=dict)  # concept IRI -> its skos:broader

    def label(self, term: str, lang: str) -> str:
        return self.labels[term][lang]


def _labels(g: Graph, s: Node) -> dict[str, str]:
    out: dict[str, str] = {}
    for prop in (SKOS.prefLabel, GN.alternateName):
        for o in g.objects(s, prop):
            if isinstance(o, Literal) and o.language in LANGS:
                out.setdefault(o.language, str(o))
    return out


def load_vocabulary() -> Vocabulary:
    g = Graph()
    for name in VOCAB_FILES:
        g.parse(DATA_DIR / name, format="turtle")
    v = Vocabulary(graph=g)

    # Concept groups, by the same rule the agent uses: the group collection has
    # the concept or one of its skos:broader ancestors as member.
    concepts = sorted(g.subjects(RDF.type, SKOS.Concept), key=str)  # IRIs: rdflib orders them as strings
    for concept in concepts:
        v.labels[str(concept)] = _labels(g, concept)
        b = g.value(concept, SKOS.broader)
        if b is not None:
            v.broader[str(concept)] = str(b)
    for task, facet in FACETS.items():
        group_ids = sorted(str(c)[len(FACET):] for c in g.objects(URIRef(FACET + facet), SKOS.member))
        v.groups[task] = group_ids
        direct = {m: gid for gid in group_ids for m in g.objects(URIRef(FACET + gid), SKOS.member)}
        mapping: dict[str, str | None] = {}
        for concept in concepts:
            # The concept itself first, then its ancestors nearest first.
            chain = [concept, *[a for a in g.transitive_objects(concept, SKOS.broader) if a != concept]]
            mapping[str(concept)] = next((direct[a] for a in chain if a in direct), None)
        v.group_of[task] = mapping

    for feature in g.subjects(RDF.type, GN.Feature):
        code = str(g.value(feature, GN.countryCode))
        v.country_code[str(feature)] = code
        v.labels[str(feature)] = _labels(g, feature)
        if g.value(feature, GN.parentCountry) is None:
            v.country_iri[code] = str(feature)
        else:
            v.cities.setdefault(code, []).append(str(feature))
    for code in v.cities:
        v.cities[code].sort()

    for c in CENTURIES:
        v.labels[c] = _labels(g, URIRef(c))
    for p in g.subjects(RDF.type, TIME.ProperInterval):
        v.labels[str(p)] = _labels(g, p)
        inside = g.value(p, TIME.intervalIn)
        v.period_century[str(p)] = str(inside) if inside is not None else None
    return v


def write_vocabulary_trig(v: Vocabulary, path: Path, graph_iri: str) -> int:
    """The vocabulary files as one named graph, triples sorted for stable bytes."""
    doc = TrigDocument({})
    by_subject: dict[str, list[tuple[str, str]]] = {}
    for s, p, o in v.graph:
        by_subject.setdefault(s.n3(), []).append((p.n3(), o.n3()))
    for subject in sorted(by_subject):
        doc.add(graph_iri, subject, sorted(by_subject[subject]))
    doc.write(path)
    return doc.triples


__all__ = ["Vocabulary", "load_vocabulary", "write_vocabulary_trig", "iri", "LANGS", "CENTURIES", "VOC", "PERIOD"]
