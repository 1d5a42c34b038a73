"""The SHACL gate: nothing reaches the live prediction graph unless it conforms.

shapes/predictions.ttl is the definition of a valid prediction graph.  Its
task-dependent rules (subject class, allowed concepts) read a small
*validation context* that is built here and never written to the store: one
``kgs:TaskContext`` per task (predicate, subject class, the concepts of its
groups) and the store's classes of exactly the subjects the predictions name.
So pySHACL sees only the slice of the graph the rules need, not the museum
graphs or the thesaurus.

Two engines give the same verdict:
- ``shacl``: pySHACL with the shapes (the reference, and the slower one);
- ``sparql``: queries/validate/*.rq, one query per rule of the shapes, run on a
  scratch pyoxigraph store.  tests/test_validation.py breaks each rule and
  checks that both engines report the same (focus node, rule) pairs.
``auto`` uses pySHACL up to ``shacl_limit`` statements and SPARQL above; the
measured cost of each is printed by bench/bench_writeback.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from rdflib import BNode, Graph, URIRef
from rdflib.namespace import RDF, RDFS, SH

from . import namespaces, sparql
from .errors import KgenrichError, ValidationFailed
from .namespaces import ECRM, KGS
from .predictions import SILKNOW_VOCABULARY, WriteVocabulary
from .resources import QUERIES_DIR, SHAPES_DIR
from .store.base import Store, Triple
from .task_types import Task, TaskLabels

KGSH = str(namespaces.KGSH)  # rule IRIs are built as strings: KGSH + rule name
ENGINES = ("auto", "shacl", "sparql")
DEFAULT_SHACL_LIMIT = 1_000  # pySHACL costs ~5 ms per statement, the SPARQL rules ~0.1 ms (bench_writeback)
_BATCH = 500  # subjects per VALUES block in context queries (portable across servers)
_STRUCTURE = KGSH + "structure"


@dataclass
class Violation:
    focus: str
    rule: str  # the shape IRI (kgsh:...)
    value: str | None = None
    message: str = ""

    @property
    def rule_name(self) -> str:
        return self.rule.rsplit("#", 1)[-1]


@dataclass
class ValidationReport:
    conforms: bool
    engine: str
    statements: int
    triples: int
    seconds: float
    violations: list[Violation] = field(default_factory=list)
    path: str | None = None
    violations_omitted: int = 0  # found but not kept (a large run keeps the first ones only)

    def rules(self) -> set[str]:
        return {v.rule_name for v in self.violations}

    def pairs(self) -> set[tuple[str, str]]:
        return {(v.focus, v.rule_name) for v in self.violations}

    def text(self, limit: int = 30) -> str:
        head = (f"{'conforms' if self.conforms else 'DOES NOT CONFORM'}: {self.statements} statements, "
                f"{self.triples} triples, {len(self.violations) + self.violations_omitted} violation(s), "
                f"{self.engine} engine, "
                f"{self.seconds:.2f} s")
        lines = [head]
        for v in self.violations[:limit]:
            value = f" (value {v.value})" if v.value else ""
            lines.append(f"  {v.rule_name}: {v.focus}{value}: {v.message}")
        if len(self.violations) > limit:
            lines.append(f"  ... and {len(self.violations) - limit} more")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["violations"] = [asdict(v) | {"rule": v.rule_name} for v in self.violations]
        return d

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        path.with_suffix(".txt").write_text(self.text(limit=10_000) + "\n", encoding="utf-8")
        return path


# ------------------------------------------------------------------ shapes
def shapes_path() -> Path:
    return SHAPES_DIR / "predictions.ttl"


@lru_cache(maxsize=4)
def _shapes_graph(vocabulary: WriteVocabulary = SILKNOW_VOCABULARY) -> Graph:
    """The shapes, with the profile's confidence and description properties as the paths of the
    two rules that name them (the file says SILKNOW's)."""
    g = Graph()
    path = shapes_path()
    if not path.is_file():
        raise KgenrichError(f"SHACL shapes not found: {path}")
    g.parse(path, format="turtle")
    for rule, prop in ((KGSH + "statement-confidence", vocabulary.confidence),
                       (KGSH + "agent-description", vocabulary.description)):
        g.set((URIRef(rule), SH.path, URIRef(prop)))
    return g


def _rule_query(stem: str, vocabulary: WriteVocabulary) -> str:
    """One rule of queries/validate/ with the profile's properties bound."""
    return sparql.prepare(f"validate/{stem}", confidence=URIRef(vocabulary.confidence),
                          description=URIRef(vocabulary.description))


@lru_cache(maxsize=1)
def rule_messages() -> dict[str, str]:
    """{shape IRI: sh:message} for every rule of the shapes file."""
    g = _shapes_graph()
    return {str(s): str(o) for s, o in g.subject_objects(SH.message) if isinstance(s, URIRef)}


# ------------------------------------------------------------------ context
def task_context(tasks: Sequence[Task], labels: Mapping[str, TaskLabels]) -> list[Triple]:
    """kgs:TaskContext triples: each task's predicate, subject class and allowed concepts."""
    out: list[Triple] = []
    for task in tasks:
        if task.name not in labels:
            continue
        node = URIRef(task.iri)
        out.append((node, RDF.type, KGS.TaskContext))
        out.append((node, KGS.property, URIRef(task.property)))
        cls = task.subject_class if task.subject_link else task.artifact_class
        out.append((node, KGS.subjectClass, URIRef(cls or str(ECRM["E12_Production"]))))
        for g in labels[task.name].groups:
            out.append((node, KGS.allowedObject, URIRef(g.concept)))
    return out


def subject_context(store: Store, triples: Iterable[Triple], tasks: Sequence[Task]) -> list[Triple]:
    """The store's classes of the statement subjects, and how they relate to the task classes."""
    return subjects_context(store, {o for s, p, o in triples if p == RDF.subject and isinstance(o, URIRef)}, tasks)


def subjects_context(store: Store, subject_iris: Iterable[str], tasks: Sequence[Task]) -> list[Triple]:
    """subject_context for statement subjects given by IRI."""
    subjects = sorted(URIRef(s) for s in set(map(str, subject_iris)))
    out: list[Triple] = []
    types: set[URIRef] = set()
    for start in range(0, len(subjects), _BATCH):
        rows = store.select(sparql.prepare("validation_subject_types", subjects=subjects[start:start + _BATCH]))
        for row in rows:
            subject, rdf_type = row.get("s"), row.get("type")
            if isinstance(subject, URIRef) and isinstance(rdf_type, URIRef):
                out.append((subject, RDF.type, rdf_type))
                types.add(rdf_type)
    classes = sorted({URIRef((t.subject_class if t.subject_link else t.artifact_class) or "") for t in tasks} - {URIRef("")})
    types_list = sorted(types - set(classes))
    for start in range(0, len(types_list), _BATCH):
        rows = store.select(sparql.prepare("validation_subclasses", types=types_list[start:start + _BATCH],
                                           classes=classes))
        # Flattened to one step: the rules only need "is a (sub)class of the task class".
        out.extend((row["type"], RDFS.subClassOf, row["class"]) for row in rows)
    return out


# ------------------------------------------------------------------ engines
def structural_violations(triples: Iterable[Triple]) -> list[Violation]:
    """What SHACL cannot see on targets alone: blank nodes or relative IRIs anywhere."""
    out = []
    for s, p, o in triples:
        for term in (s, p, o):
            if isinstance(term, BNode):
                out.append(Violation(f"_:{term}", _STRUCTURE, None, "blank nodes are not allowed in predictions"))
            elif isinstance(term, URIRef) and (":" not in term or not sparql.iri_is_valid(str(term))):
                out.append(Violation(str(term), _STRUCTURE, None, "not an absolute IRI"))
    return out


def _count_statements(triples: Sequence[Triple]) -> int:
    return sum(1 for s, p, o in triples if p == RDF.type and o == RDF.Statement)


def validate_shacl(triples: Sequence[Triple], context: Sequence[Triple],
                   vocabulary: WriteVocabulary = SILKNOW_VOCABULARY) -> list[Violation]:
    import pyshacl

    data = Graph()
    for t in triples:
        data.add(t)
    for t in context:
        data.add(t)
    conforms, results, _ = pyshacl.validate(data, shacl_graph=_shapes_graph(vocabulary), inference="none",
                                            advanced=False, allow_warnings=True)
    if conforms:
        return []
    messages = rule_messages()
    out = []
    for result in results.subjects(RDF.type, SH.ValidationResult):
        focus = results.value(result, SH.focusNode)
        source = results.value(result, SH.sourceShape)
        constraint = results.value(result, SH.sourceConstraint)
        value = results.value(result, SH.value)
        # SPARQL constraints are reported by their node shape: name the constraint instead.
        rule = str(constraint) if isinstance(constraint, URIRef) and str(constraint) in messages else str(source)
        if focus == KGS.predictions:
            # Graph-level rules report the offending statement as the value: make it the focus.
            focus, value = value, None
        out.append(Violation(str(focus), rule, None if value is None else str(value), messages.get(rule, "")))
    return sorted(out, key=lambda v: (v.rule, v.focus, v.value or ""))


def validate_sparql(triples: Sequence[Triple], context: Sequence[Triple],
                    vocabulary: WriteVocabulary = SILKNOW_VOCABULARY) -> list[Violation]:
    from .store import scratch_store

    scratch = scratch_store()
    try:
        lines = []
        for s, p, o in list(triples) + list(context):
            # Blank nodes and bad IRIs are reported by structural_violations; the rules check the rest.
            if not isinstance(p, URIRef) or any(isinstance(t, BNode) or (isinstance(t, URIRef) and ":" not in t)
                                                for t in (s, p, o)):
                continue
            try:
                lines.append(sparql.ntriples_line(s, p, o))
            except sparql.UnsafeTerm:
                continue
        body = "\n".join(lines)
        scratch.load_bytes(body.encode("utf-8"), "ntriples", graph=URIRef("urn:kgenrich:validation"))
        messages = rule_messages()
        out = []
        # One query per rule: as one big UNION the planner loses its way (minutes at 10k).
        for path in sorted((QUERIES_DIR / "validate").glob("*.rq")):
            rule = KGSH + path.stem
            for row in scratch.select(_rule_query(path.stem, vocabulary)):
                value = row.get("value")
                out.append(Violation(str(row["focus"]), rule, None if value is None else str(value),
                                     messages.get(rule, "")))
    finally:
        scratch.close()
    return sorted(out, key=lambda v: (v.rule, v.focus, v.value or ""))


def validate(triples: Sequence[Triple], context: Sequence[Triple] = (), engine: str = "auto",
             shacl_limit: int = DEFAULT_SHACL_LIMIT,
             vocabulary: WriteVocabulary = SILKNOW_VOCABULARY) -> ValidationReport:
    """Validate prediction triples (plus their context) with the chosen engine."""
    if engine not in ENGINES:
        raise KgenrichError(f"unknown validation engine '{engine}' (known: {', '.join(ENGINES)})")
    triples = list(triples)
    started = time.perf_counter()
    statements = _count_statements(triples)
    if engine == "auto":
        engine = "shacl" if statements <= shacl_limit else "sparql"
    violations = structural_violations(triples)
    if engine == "shacl":
        violations += validate_shacl(triples, context, vocabulary)
    else:
        violations += validate_sparql(triples, context, vocabulary)
    return ValidationReport(not violations, engine, statements, len(triples),
                            time.perf_counter() - started, violations)


def validate_in_store(store: Store, triples: Sequence[Triple], tasks: Sequence[Task],
                      labels: Mapping[str, TaskLabels], engine: str = "auto",
                      shacl_limit: int = DEFAULT_SHACL_LIMIT,
                      vocabulary: WriteVocabulary = SILKNOW_VOCABULARY) -> ValidationReport:
    """Validate predictions with the context taken from ``store`` (task classes, subject types)."""
    triples = list(triples)
    context = task_context(tasks, labels) + subject_context(store, triples, tasks)
    return validate(triples, context, engine=engine, shacl_limit=shacl_limit, vocabulary=vocabulary)


def require(report: ValidationReport) -> None:
    """Raise ValidationFailed (exit status 3) when the report has violations."""
    if not report.conforms:
        where = f"; report saved to {report.path}" if report.path else ""
        raise ValidationFailed(f"{len(report.violations)} SHACL violation(s) in the predictions, nothing written"
                               f"{where}\n{report.text(limit=10)}")


# ------------------------------------------------------------------ chunk by chunk
def _structural_line_violations(lines: Sequence[str]) -> list[Violation]:
    # Lines come from prediction_triples.prediction_lines, which refuses relative IRIs; blank nodes
    # are the one structural defect N-Triples can still carry, so look for them.
    out = []
    for line in lines:
        if line.startswith("_:") or " _:" in line:
            label = line[line.index("_:"):].split(" ", 1)[0]
            out.append(Violation(label, _STRUCTURE, None, "blank nodes are not allowed in predictions"))
    return out


def validate_sparql_lines(lines: Sequence[str], context: Sequence[Triple],
                          vocabulary: WriteVocabulary = SILKNOW_VOCABULARY) -> list[Violation]:
    """validate_sparql for N-Triples lines: loaded as they are into a scratch store, no rdflib terms."""
    import pyoxigraph as ox

    scratch = ox.Store()
    body = "".join(lines) + sparql.ntriples(t for t in context if not any(isinstance(x, BNode) for x in t))
    scratch.load(body.encode("utf-8"), format=ox.RdfFormat.N_TRIPLES, to_graph=ox.NamedNode("urn:kgenrich:validation"))
    from .store.terms import to_rdflib

    messages = rule_messages()
    out = []
    for path in sorted((QUERIES_DIR / "validate").glob("*.rq")):
        rule = KGSH + path.stem
        solutions = scratch.query(_rule_query(path.stem, vocabulary), use_default_graph_as_union=True)
        assert isinstance(solutions, ox.QuerySolutions)  # every rule is a SELECT
        for row in solutions:
            value = row["value"]
            out.append(Violation(str(to_rdflib(row["focus"])), rule, None if value is None else str(to_rdflib(value)),
                                 messages.get(rule, "")))
    return sorted(out, key=lambda v: (v.rule, v.focus, v.value or ""))


class ChunkValidator:
    """The SHACL gate, one chunk of predictions at a time, with memory bounded by the chunk.

    Every chunk is checked against every rule together with what the rules read besides
    it: the agents' triples (the same in every chunk), the task context, and the store's
    classes of the chunk's statement subjects.  A chunk holds whole predictions (a
    statement with its activity, plain triple and minted subject) and every prediction
    of one subject (sync keeps artifacts that share a subject in one chunk), so the
    rules that relate nodes to each other see everything they relate.  Statement IRIs
    are derived from (subject, predicate, object), so the duplicate-statement rule
    cannot fire across chunks either; sync checks that no statement IRI repeats.

    ``engine``: ``shacl`` (pySHACL), ``sparql`` (the same rules as SPARQL on a scratch
    pyoxigraph store per chunk, never an rdflib graph) or ``auto``: pySHACL when the
    run has at most ``shacl_limit`` statements (``expected_statements``), else SPARQL.
    """

    def __init__(self, store: Store, tasks: Sequence[Task], labels: Mapping[str, TaskLabels], agent_lines: Sequence[str],
                 engine: str = "auto", shacl_limit: int = DEFAULT_SHACL_LIMIT, expected_statements: int = 0,
                 keep: int = 10_000, vocabulary: WriteVocabulary = SILKNOW_VOCABULARY):
        if engine not in ENGINES:
            raise KgenrichError(f"unknown validation engine '{engine}' (known: {', '.join(ENGINES)})")
        if engine == "auto":
            engine = "shacl" if expected_statements <= shacl_limit else "sparql"
        self.engine = engine
        self.vocabulary = vocabulary
        self.store = store
        self.tasks = list(tasks)
        self.context = task_context(tasks, labels)
        self.agent_lines = list(agent_lines)
        self.keep = keep
        self.violations: list[Violation] = []
        self.violation_count = 0
        self.statements = 0
        self.triples = 0
        self.seconds = 0.0

    def check(self, lines: Sequence[str], subjects: Iterable[str], statements: int) -> int:
        """Validate one chunk (its lines without the agents'); returns the violations found."""
        started = time.perf_counter()
        context = self.context + subjects_context(self.store, subjects, self.tasks)
        body = list(lines) + self.agent_lines
        found = _structural_line_violations(body)
        if self.engine == "shacl":
            graph = Graph()
            graph.parse(data="".join(body), format="nt")
            found += validate_shacl(list(graph), context, self.vocabulary)
        else:
            found += validate_sparql_lines(body, context, self.vocabulary)
        self.statements += statements
        self.triples += len(lines)
        self.violation_count += len(found)
        room = self.keep - len(self.violations)
        if room > 0:
            self.violations.extend(found[:room])
        self.seconds += time.perf_counter() - started
        return len(found)

    def report(self) -> ValidationReport:
        report = ValidationReport(self.violation_count == 0, self.engine, self.statements,
                                  self.triples + (len(self.agent_lines) if self.triples else 0), self.seconds,
                                  sorted(self.violations, key=lambda v: (v.rule, v.focus, v.value or "")))
        if self.violation_count > len(self.violations):
            report.violations_omitted = self.violation_count - len(self.violations)
        return report
