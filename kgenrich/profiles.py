"""Stage 2a: collection profiles -- what a collection's graph looks like, read from RDF.

A profile (``kge:Profile``, ontology/kgenrich.ttl) says where an artifact's
inputs sit and how predictions are written:

- its artifact classes (``kge:artifactClass``);
- its text, image and feature inputs (``kge:textInput`` ...), each a path from
  the artifact, optionally through an intermediate node of a given type;
- the property of a prediction's confidence, of a model's description, and the
  IRI space kgenrich mints in.

The prediction tasks defined in the profile's file belong to it (tasks.py reads
that file as one of its sources).  kgenrich ships two profiles,
``ontology/profiles/silknow.ttl`` and ``ontology/profiles/linked-art.ttl``; the
``profile`` setting names one of them, the path of a profile file of one's
own, or ``auto``: the profile whose artifact classes have the most instances in
the store's named graphs (kgenrich's own graphs left out).  Every command says
which profile it uses and why (:attr:`Profile.reason`).

Paths are parsed as property paths of IRIs (propertypath.py) before any query
sees them, and the profile is checked against shapes/profiles.ttl and the
closed list of kge: terms, each problem one line naming the profile's file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF, RDFS, SH

from . import sparql, vocabulary
from .config import Settings
from .errors import KgenrichError
from .graphs import OwnGraphs
from .namespaces import KGE, KGE_IRI
from .propertypath import PathError, PropertyPath, parse_path
from .resources import ONTOLOGY_DIR, SHAPES_DIR
from .store import Store, scratch_store
from .store.base import guess_format, read_rdf_bytes

PROFILES_DIR = ONTOLOGY_DIR / "profiles"
PROFILE_SHAPES_FILE = "profiles.ttl"
AUTO = "auto"
# When the store holds no artifact of any shipped profile: the profile of the demo and of SILKNOW.
FALLBACK = "silknow"

log = logging.getLogger(__name__)


class ProfileError(KgenrichError):
    """A profile that cannot be found, read or used."""


@dataclass(frozen=True)
class Input:
    """One input of a profile: where a text, an image or a feature sits, from the artifact."""

    kind: str  # "text" | "image" | "feature"
    name: str
    value_path: PropertyPath | None  # node (or artifact) -> value; None: an image node is its own location
    node_path: PropertyPath | None = None  # artifact -> intermediate node
    node_type_path: PropertyPath | None = None
    node_types: tuple[str, ...] = ()
    language_path: PropertyPath | None = None

    def describe(self) -> dict:
        def path(p: PropertyPath | None) -> str | None:
            return p.turtle(_show) if p is not None else None

        out: dict[str, str | list[str] | None] = {"name": self.name, "kind": self.kind,
                                                  "node_path": path(self.node_path),
                                                  "value_path": path(self.value_path)}
        if self.node_types:
            out["node_type_path"] = path(self.node_type_path)
            out["node_types"] = [_show(t) for t in self.node_types]
        if self.language_path is not None:
            out["language_path"] = path(self.language_path)
        return out


@dataclass(frozen=True)
class Profile:
    """A collection profile, parsed and checked."""

    name: str
    iri: str
    label: str
    file: Path
    artifact_classes: tuple[str, ...]
    texts: tuple[Input, ...] = ()
    images: tuple[Input, ...] = ()
    features: tuple[Input, ...] = ()
    confidence_property: str = ""
    description_property: str = ""
    mint_namespace: str = ""
    reason: str = field(default="", compare=False)  # why this profile is the one in use

    @property
    def source(self) -> str:
        """The file as messages name it (ontology/profiles/NAME.ttl for a shipped one)."""
        return _file_label(self.file)

    def inputs(self) -> tuple[Input, ...]:
        return self.texts + self.images + self.features

    def fingerprint(self) -> list:
        """What extraction and write-back depend on (part of sync's keys: a changed profile re-predicts)."""
        return [self.name, self.iri, sorted(self.artifact_classes),
                [sorted(i.describe().items()) for i in self.inputs()],
                self.confidence_property, self.description_property, self.mint_namespace]

    def describe(self) -> dict:
        """The profile as ``kgenrich tasks --json`` and the model card show it."""
        return {"name": self.name, "iri": self.iri, "label": self.label, "file": self.source,
                "reason": self.reason, "artifact_classes": [_show(c) for c in self.artifact_classes],
                "inputs": [i.describe() for i in self.inputs()],
                "confidence_property": _show(self.confidence_property),
                "description_property": _show(self.description_property),
                "mint_namespace": self.mint_namespace}


# ------------------------------------------------------------------ display
_PREFIXES = {
    "http://www.cidoc-crm.org/cidoc-crm/": "crm:",
    "http://erlangen-crm.org/current/": "ecrm:",
    "https://linked.art/ns/terms/": "la:",
    "http://vocab.getty.edu/aat/": "aat:",
    "http://data.silknow.org/ontology/": "silk:",
    "http://schema.org/": "schema:",
    str(RDF): "rdf:",
    str(RDFS): "rdfs:",
    "http://www.w3.org/2004/02/skos/core#": "skos:",
    KGE_IRI: "kge:",
}


def _show(iri: str) -> str:
    for ns, prefix in _PREFIXES.items():
        local = iri[len(ns):]
        if iri.startswith(ns) and local and all(c.isalnum() or c in "_-." for c in local):
            return prefix + local
    return f"<{iri}>"


def _file_label(path: Path) -> str:
    path = Path(path).resolve()
    for base, prefix in ((ONTOLOGY_DIR.resolve(), "ontology/"), (Path.cwd().resolve(), "")):
        try:
            return prefix + path.relative_to(base).as_posix()
        except ValueError:
            continue
    return str(path)


# ------------------------------------------------------------------ reading a profile file
def shipped() -> dict[str, Path]:
    """The shipped profiles by name (the file's stem): silknow, linked-art."""
    return {p.stem: p for p in sorted(PROFILES_DIR.glob("*.ttl"))}


def _read_graph(path: Path) -> Graph:
    """The profile file as an rdflib graph, read with the project's parsers (one-line errors)."""
    scratch = scratch_store()
    graph_iri = URIRef(path.resolve().as_uri())
    scratch.load_bytes(read_rdf_bytes(path), guess_format(path), graph=graph_iri, base=graph_iri)
    graph = Graph()
    for triple in scratch.construct(sparql.prepare("graph_triples", graph=graph_iri)):
        graph.add(triple)
    return graph


def _one(graph: Graph, node, predicate, what: str):
    values = list(graph.objects(node, predicate))
    if len(values) > 1:
        raise ProfileError(f"{what}: more than one {_show(str(predicate))}")
    return values[0] if values else None


def _path(graph: Graph, node, predicate, what: str) -> PropertyPath | None:
    value = _one(graph, node, predicate, what)
    if value is None:
        return None
    try:
        return parse_path(graph, value, f"{what} {_show(str(predicate))}")
    except PathError as exc:
        raise ProfileError(str(exc)) from None


def _input(graph: Graph, node, kind: str, where: str) -> Input:
    name = str(_one(graph, node, KGE.name, where) or "")
    what = f"{where}: {kind} input '{name}'"
    types = sorted(str(t) for t in graph.objects(node, KGE.nodeType))
    return Input(kind=kind, name=name,
                 value_path=_path(graph, node, KGE.valuePath, what),
                 node_path=_path(graph, node, KGE.nodePath, what),
                 node_type_path=_path(graph, node, KGE.nodeTypePath, what),
                 node_types=tuple(types),
                 language_path=_path(graph, node, KGE.languagePath, what))


def _check_terms(graph: Graph, where: str) -> None:
    problems = []
    for triple in graph:
        for term in triple:
            if isinstance(term, URIRef) and str(term).startswith(KGE_IRI) and not vocabulary.is_known(str(term)):
                close = vocabulary.closest(str(term))
                hint = f"; did you mean {close}?" if close else "; the known terms are listed in docs/profiles.md"
                problems.append(f"{where}: unknown term {_show(str(term))}{hint}")
    if problems:
        raise ProfileError("\n".join(sorted(set(problems))))


def _check_shapes(graph: Graph, where: str) -> None:
    import pyshacl

    shapes = Graph().parse(SHAPES_DIR / PROFILE_SHAPES_FILE, format="turtle")
    conforms, results, _ = pyshacl.validate(graph, shacl_graph=shapes, inference="rdfs", advanced=False,
                                            allow_warnings=False)
    if conforms:
        return
    problems = []
    for result in results.subjects(RDF.type, SH.ValidationResult):
        focus = results.value(result, SH.focusNode)
        name = graph.value(focus, KGE.name)
        kinds = {t for t in graph.objects(focus, RDF.type) if t != KGE.Profile}
        subject = (f"input '{name}'" if kinds else f"profile '{name}'") if name is not None else "a node"
        message = str(results.value(result, SH.resultMessage) or "does not conform to shapes/profiles.ttl")
        problems.append(f"{where}: {subject}: {message}")
    raise ProfileError("\n".join(sorted(set(problems))))


@lru_cache(maxsize=16)
def _read_profile(path: Path, mtime: float) -> Profile:
    where = _file_label(path)
    graph = _read_graph(path)
    _check_terms(graph, where)
    nodes = sorted(set(graph.subjects(RDF.type, KGE.Profile)), key=str)
    if len(nodes) != 1:
        raise ProfileError(f"{where}: a profile file describes exactly one kge:Profile, not {len(nodes)}")
    _check_shapes(graph, where)
    node = nodes[0]
    name = str(graph.value(node, KGE.name))
    where = f"profile '{name}' ({where})"
    labels = sorted((o for o in graph.objects(node, RDFS.label) if isinstance(o, Literal)),
                    key=lambda o: (o.language not in ("en", None), str(o)))
    inputs = {kind: tuple(sorted((_input(graph, i, kind, where) for i in graph.objects(node, predicate)),
                                 key=lambda i: i.name))
              for kind, predicate in (("text", KGE.textInput), ("image", KGE.imageInput),
                                      ("feature", KGE.featureInput))}
    names = [i.name for kind in inputs.values() for i in kind]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ProfileError(f"{where}: two inputs are named {', '.join(map(repr, duplicates))}; names must differ")
    if not isinstance(node, URIRef):
        raise ProfileError(f"{where}: the kge:Profile node must be an IRI")
    return Profile(name=name, iri=str(node), label=str(labels[0]) if labels else name, file=path,
                   artifact_classes=tuple(sorted(str(c) for c in graph.objects(node, KGE.artifactClass))),
                   texts=inputs["text"], images=inputs["image"], features=inputs["feature"],
                   confidence_property=str(graph.value(node, KGE.confidenceProperty)),
                   description_property=str(graph.value(node, KGE.descriptionProperty)),
                   mint_namespace=str(graph.value(node, KGE.mintNamespace)))


def read_profile(path: Path) -> Profile:
    """The profile of one file, parsed and checked (cached while the file is unchanged)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise ProfileError(f"profile file not found: {path}")
    return _read_profile(path, path.stat().st_mtime)


# ------------------------------------------------------------------ choosing the profile
def count_artifacts(store: Store, profile: Profile, own: OwnGraphs | None = None) -> int:
    """How many artifacts of the profile's classes (and their subclasses) the store's museum graphs hold."""
    classes = {URIRef(c) for c in profile.artifact_classes}
    for cls in profile.artifact_classes:
        for row in store.select(sparql.prepare("artifact_classes", artifactClass=URIRef(cls))):
            subclass = row["cls"]
            if isinstance(subclass, URIRef):  # the query keeps IRIs only
                classes.add(subclass)
    total = 0
    for row in store.select(sparql.prepare("artifact_graphs", classes=sorted(classes))):
        if own is not None and own.is_ours(str(row["g"])):
            continue
        artifacts = row["artifacts"]
        assert isinstance(artifacts, Literal)  # a COUNT
        total += int(artifacts.toPython())
    return total


def resolve(store: Store | None, settings: Settings) -> Profile:
    """The profile the settings name, with the reason it is used (``profile.reason``)."""
    choice = (settings.profile or AUTO).strip()
    known = shipped()
    if choice in known:
        return replace(read_profile(known[choice]), reason=f"set by the profile setting ({choice})")
    if choice != AUTO:
        path = Path(choice).expanduser()
        if path.suffix or path.exists() or "/" in choice:
            profile = read_profile(path)
            return replace(profile, reason=f"set by the profile setting (the file {profile.source})")
        import difflib

        close = difflib.get_close_matches(choice, list(known) + [AUTO], n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ProfileError(f"unknown profile '{choice}'{hint} (known: {AUTO}, {', '.join(known)}, or the path of a "
                           "profile file)")
    profiles = [read_profile(p) for p in known.values()]
    if store is None:
        fallback = next(p for p in profiles if p.name == FALLBACK)
        return replace(fallback, reason=f"auto: no store to look at; {FALLBACK} by default")
    own = OwnGraphs.from_settings(settings)
    counts = {p.name: count_artifacts(store, p, own) for p in profiles}
    ranked = sorted(profiles, key=lambda p: (-counts[p.name], p.name != FALLBACK, p.name))
    best = ranked[0]
    others = "; ".join(f"{p.name}: {counts[p.name]:,}" for p in ranked[1:])
    if counts[best.name] == 0:
        fallback = next(p for p in profiles if p.name == FALLBACK)
        return replace(fallback, reason=f"auto: the store holds no artifact of any profile's classes; "
                                        f"{FALLBACK} by default")
    classes = ", ".join(_show(c) for c in best.artifact_classes)
    return replace(best, reason=f"auto: {counts[best.name]:,} artifacts of {classes} in the store"
                                + (f" ({others})" if others else ""))
