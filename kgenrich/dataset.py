"""Stage 4: one record per artifact, extracted through SPARQL in pages.

Artifacts are read graph by graph (one museum graph at a time), keyset-paged
by IRI; for each page the texts, images, features, statement subjects and task
values are fetched with the page's IRIs bound in a ``VALUES`` block.  Where the
inputs sit is the collection profile's business (profiles.py): each input's
paths are bound into one of the ``queries/input_*.rq`` templates.  Memory stays
bounded by the page size on the store side, and a remote endpoint that cuts a
page short is detected (queries/artifacts_after.rq) and reported as an error
rather than silently losing artifacts.

How a term becomes a record's value is record_values.py; writing records out is
dataset_export.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from rdflib import Literal, URIRef
from tqdm import tqdm

from . import sparql
from .errors import EmptyGraphError, KgenrichError, TruncatedResult
from .profiles import Input, Profile
from .propertypath import PropertyPath
from .record_values import feature_value, span_value, text_language
from .records import ArtifactRecord
from .store import Store
from .task_types import Task, TaskLabels

DEFAULT_PAGE_SIZE = 1000
# Queries of one page read side by side (stores with concurrent_reads): as many as the threads
# policy gives the process (threads.py; one on a busy machine), at most four.
_READ_THREADS = 4


def _museum_name(graph: str) -> str:
    return graph.rstrip("/#").rsplit("/", 1)[-1].rsplit("#", 1)[-1] or graph


def artifact_classes(store: Store, tasks: list[Task]) -> list[URIRef]:
    """Every class whose instances are artifacts of some task (with subclasses)."""
    classes: set[URIRef] = set()
    for cls in {t.artifact_class for t in tasks}:
        classes.add(URIRef(cls))
        for row in store.select(sparql.prepare("artifact_classes", artifactClass=URIRef(cls))):
            classes.add(URIRef(str(row["cls"])))
    return sorted(classes)


GraphFilter = Callable[[str], bool]


def museum_graphs(store: Store, classes: list[URIRef], skip_graph: GraphFilter | None = None) -> list[tuple[URIRef, int]]:
    """The named graphs holding artifacts, with their artifact counts, except those ``skip_graph``
    names (kgenrich's own graphs: see graphs.OwnGraphs.is_ours)."""
    graphs = []
    for row in store.select(sparql.prepare("artifact_graphs", classes=classes)):
        if skip_graph is not None and skip_graph(str(row["g"])):
            continue
        count = row["artifacts"]
        graphs.append((URIRef(str(row["g"])), int(count.toPython() if isinstance(count, Literal) else str(count))))
    return graphs


def _artifact_pages(store: Store, graph: URIRef, classes: list[URIRef], page_size: int,
                    expected: int | None = None) -> Iterator[list[URIRef]]:
    if store.page_rows is None and expected is not None:
        # A store that never cuts a result: one sorted pass over the graph's artifacts.  Keyset
        # pages would sort what is left of the graph once per page (quadratic in its size).
        rows = store.select(sparql.prepare("artifacts_all", classes=classes, graph=graph))
        objects = sorted((URIRef(str(row["obj"])) for row in rows), key=str)
        if len(objects) < expected:
            raise TruncatedResult(f"the store returned {len(objects)} of the {expected} artifacts of <{graph}>: "
                                  "its results are cut; set result_limit or lower page_size")
        for start in range(0, len(objects), page_size):
            yield objects[start:start + page_size]
        return
    after = Literal("")
    while True:
        rows = store.select(sparql.prepare("artifacts_page", classes=classes, graph=graph, after=after, limit=page_size))
        page = [URIRef(str(row["obj"])) for row in rows]
        if page:
            yield page
            after = Literal(str(page[-1]))
        if len(page) < page_size:
            # A short page should be the last one; make sure the server did not cut it.
            if page and store.ask(sparql.prepare("artifacts_after", classes=classes, graph=graph, after=after)):
                raise TruncatedResult(
                    f"the store returned {len(page)} of {page_size} requested artifacts of <{graph}> but has more: "
                    "its result limit is below page_size; lower page_size")
            return


# (statement on a linked node?, value in two steps?, values restricted by type?, dates?) -> query file
_VALUE_QUERIES = {
    (True, False, False, False): "task_values_linked",
    (True, True, False, False): "task_values_linked_step",
    (False, False, False, False): "task_values_direct",
    (False, True, False, False): "task_values_direct_step",
    (True, False, True, False): "task_values_linked_typed",
    (False, False, True, False): "task_values_direct_typed",
    (True, False, False, True): "task_values_linked_dates",
    (False, False, False, True): "task_values_direct_dates",
}


def _values_query(task: Task) -> str:
    key = (bool(task.subject_link), bool(task.value_step), bool(task.value_types), task.grouping == "date")
    if key not in _VALUE_QUERIES:
        raise KgenrichError(f"task '{task.name}': kge:valueStep, kge:valueType and kge:DateGrouping cannot be "
                            "combined")
    return _VALUE_QUERIES[key]


def link_path(task: Task) -> PropertyPath:
    """The path from the statement's subject to the artifact (``^P`` for a link read from the artifact)."""
    assert task.subject_link
    step = PropertyPath.step(task.subject_link)
    return PropertyPath.inverse_of(step) if task.subject_inverse else step


def _task_bindings(task: Task) -> dict:
    bindings: dict = {"property": URIRef(task.property)}
    if task.subject_link:
        bindings["link"] = link_path(task)
    if task.value_step:
        bindings["step"] = URIRef(task.value_step)
    if task.value_types:
        bindings["valueTypePath"] = task.value_type_path
        bindings["valueTypes"] = [URIRef(t) for t in task.value_types]
    if task.grouping == "date":
        bindings["beginProperty"] = URIRef(str(task.begin_property))
        bindings["endProperty"] = URIRef(str(task.end_property))
    return bindings


# (node types?, how the value is read) -> query file, for inputs through an intermediate node
_INPUT_QUERIES = {
    (False, "value"): "input_node_values",
    (False, "value+language"): "input_node_values_lang",
    (False, "optional value"): "input_node_optional_value",
    (False, "node"): "input_node_only",
    (True, "value"): "input_node_typed_values",
    (True, "value+language"): "input_node_typed_values_lang",
    (True, "optional value"): "input_node_typed_optional_value",
    (True, "node"): "input_node_typed_only",
}


def _input_query(inp: Input) -> tuple[str, dict]:
    """The query file and the path bindings that read one input."""
    if inp.node_path is None:
        return "input_values", {"valuePath": inp.value_path}
    bindings: dict = {"nodePath": inp.node_path}
    if inp.node_types:
        bindings["nodeTypePath"] = inp.node_type_path
        bindings["nodeTypes"] = [URIRef(t) for t in inp.node_types]
    if inp.value_path is None:
        mode = "node"  # an image node that is its own location
    else:
        bindings["valuePath"] = inp.value_path
        if inp.kind == "image":
            mode = "optional value"  # without a location, the node itself
        elif inp.language_path is not None:
            mode = "value+language"
            bindings["languagePath"] = inp.language_path
        else:
            mode = "value"
    return _INPUT_QUERIES[(bool(inp.node_types), mode)], bindings


Job = tuple[str, Callable[[list], None]]  # a query and what to do with its rows


def _select_all(store: Store, queries: list[str]) -> list[list]:
    """The rows of every query, in order; side by side from threads where the store allows it (a page's
    inputs are a dozen independent queries: two cores read them in about half the time)."""
    from . import threads

    chosen = threads.CHOSEN.get("threads")
    allowed = chosen if isinstance(chosen, int) and chosen > 0 else threads.usable_cores()
    workers = min(len(queries), _READ_THREADS, allowed) if getattr(store, "concurrent_reads", False) else 1
    if workers <= 1:
        return [list(store.select(q)) for q in queries]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kgenrich-read") as pool:
        return list(pool.map(lambda q: list(store.select(q)), queries))


def _input_jobs(graph: URIRef, objects: list[URIRef], records: dict[str, ArtifactRecord], profile: Profile) -> list[Job]:
    """The queries that read the profile's texts, images and features of a page, and how each fills the records."""
    jobs: list[Job] = []

    def texts(inp: Input):
        def handle(rows):
            for row in rows:
                text = row.get("value")
                if not isinstance(text, Literal) or not str(text).strip():
                    continue
                record = records[str(row["obj"])]
                pair = (str(text), text_language(text, row.get("language")))
                if pair not in record.texts:
                    record.texts.append(pair)
                record.text_fields.setdefault(inp.name, []).append(str(text))
        return handle

    def images(rows):
        for row in rows:
            record = records[str(row["obj"])]
            node, value = row.get("node"), row.get("value")
            location = str(value) if isinstance(value, (URIRef, Literal)) else (
                str(node) if isinstance(node, URIRef) else None)
            if location is None or location in record.images:
                continue
            record.images.append(location)
            if isinstance(node, URIRef) and str(node) not in record.image_nodes:
                record.image_nodes.append(str(node))

    def features(inp: Input):
        for record in records.values():
            record.literals[inp.name] = []

        def handle(rows):
            for row in rows:
                value = feature_value(row.get("value"))
                values = records[str(row["obj"])].literals[inp.name]
                if value is not None and value not in values:
                    values.append(value)
        return handle

    for inp in profile.texts + profile.images + profile.features:
        name, bindings = _input_query(inp)
        query = sparql.prepare(name, objects=objects, graph=graph, **bindings)
        handler = texts(inp) if inp.kind == "text" else images if inp.kind == "image" else features(inp)
        jobs.append((query, handler))
    return jobs


def _fetch_page(store: Store, graph: URIRef, objects: list[URIRef], tasks: list[Task],
                with_inputs: bool, literal_properties: Iterable[str] = (),
                profile: Profile | None = None) -> list[ArtifactRecord]:
    graph_str = str(graph)
    museum = _museum_name(graph_str)
    records = {str(o): ArtifactRecord(iri=str(o), graph=graph_str, museum=museum) for o in objects}
    for record in records.values():
        for task in tasks:
            record.values[task.name] = []
            record.labels[task.name] = None
            record.subjects[task.name] = None if task.subject_link else record.iri

    jobs: list[Job] = []
    if with_inputs and profile is not None:
        jobs += _input_jobs(graph, objects, records, profile)

    def literals(prop: str):
        for record in records.values():
            record.literals[prop] = []

        def handle(rows):
            for row in rows:
                records[str(row["obj"])].literals[prop].append(str(row["value"]))
        return handle

    for prop in literal_properties:
        jobs.append((sparql.prepare("artifact_literals", objects=objects, graph=graph, property=URIRef(prop)),
                     literals(prop)))

    def subjects_of(link_tasks: list[Task]):
        def handle(rows):
            subjects: dict[str, str] = {}
            for row in rows:
                # Several productions for one artifact: take the smallest IRI, deterministically.
                obj, subject = str(row["obj"]), str(row["subject"])
                if obj not in subjects or subject < subjects[obj]:
                    subjects[obj] = subject
            for task in link_tasks:
                for obj, subject in subjects.items():
                    records[obj].subjects[task.name] = subject
        return handle

    for link, inverse in sorted({(t.subject_link, t.subject_inverse) for t in tasks if t.subject_link}):
        same = [t for t in tasks if (t.subject_link, t.subject_inverse) == (link, inverse)]
        jobs.append((sparql.prepare("task_subjects", objects=objects, graph=graph, link=link_path(same[0])),
                     subjects_of(same)))
    for task in tasks:
        jobs.append(_task_values_job(graph, objects, task, records))

    for (_, handle), rows in zip(jobs, _select_all(store, [query for query, _ in jobs])):
        handle(rows)

    # Stores return rows in any order: sort, so that every store gives identical records.
    for record in records.values():
        record.texts.sort()
        record.images.sort()
        record.image_nodes.sort()
        for values in (list(record.values.values()) + list(record.literals.values())
                       + list(record.text_fields.values())):
            values.sort()
    return [records[str(o)] for o in objects]


def _task_values_job(graph: URIRef, objects: list[URIRef], task: Task, records: dict[str, ArtifactRecord],
                     added: list | None = None) -> Job:
    """The query of a task's asserted values in ``graph`` and how it fills the records (counting the new
    values into ``added``).  A date-grouped task's value is its span ("1855/1865", :func:`span_value`)."""
    def handle(rows):
        for row in rows:
            if task.grouping == "date":
                value = span_value(row.get("span"), row.get("begin"), row.get("end"))
                if value is None:
                    continue
            else:
                value = str(row["value"])
            values = records[str(row["obj"])].values.setdefault(task.name, [])
            if value not in values:
                values.append(value)
                if added is not None:
                    added.append(value)

    return sparql.prepare(_values_query(task), objects=objects, graph=graph, **_task_bindings(task)), handle


def read_task_values(store: Store, graph: URIRef, objects: list[URIRef], task: Task,
                     records: dict[str, ArtifactRecord]) -> int:
    """Add the task's asserted values in ``graph`` to the records of these artifacts; returns how many
    values were new."""
    added: list = []
    query, handle = _task_values_job(graph, objects, task, records, added)
    handle(list(store.select(query)))
    return len(added)


def fetch_records(store: Store, graph, objects, tasks: list[Task], with_inputs: bool = True,
                  literal_properties: Iterable[str] = (), profile: Profile | None = None) -> list[ArtifactRecord]:
    """The raw records (values, no labels yet) of some artifacts of one graph, in the order given
    (e.g. the ones the review page shows, or a chunk that sync reads again).  IRIs as strings or terms.
    ``profile``: where the texts, images and features sit (none read without one)."""
    return _fetch_page(store, URIRef(str(graph)), [URIRef(str(o)) for o in objects], tasks, with_inputs,
                       literal_properties if with_inputs else (), profile)


def iter_records(store: Store, tasks: list[Task], page_size: int = DEFAULT_PAGE_SIZE, with_inputs: bool = True,
                 skip_graph: GraphFilter | None = None, progress: bool = True,
                 literal_properties: Iterable[str] = (), profile: Profile | None = None) -> Iterator[ArtifactRecord]:
    """Yield raw records (values but no labels yet), one museum graph page at a time; ``profile`` says
    where the texts, images and features sit (none are read without one)."""
    classes = artifact_classes(store, tasks)
    graphs = museum_graphs(store, classes, skip_graph)
    if not graphs:
        raise EmptyGraphError(
            f"{store.description} holds no artifacts of class "
            + ", ".join(f"<{c}>" for c in sorted({t.artifact_class for t in tasks}))
            + " in any named graph (load a collection first: kgenrich load FILE)")
    total = sum(n for _, n in graphs)
    with tqdm(total=total, desc="artifacts", unit="art", disable=not progress, leave=False) as bar:
        for graph, count in graphs:
            for page in _artifact_pages(store, graph, classes, page_size, count):
                yield from _fetch_page(store, graph, page, tasks, with_inputs,
                                       literal_properties if with_inputs else (), profile)
                bar.update(len(page))


def curated_artifacts(store: Store, graph: URIRef) -> set[str]:
    """The artifacts the curated graph holds values of."""
    return {str(row["node"]) for row in store.select(sparql.prepare("review_curated_nodes", graph=graph))}


def merge_curated(store: Store, graph: URIRef, tasks: list[Task], records: list[ArtifactRecord],
                  page_size: int = DEFAULT_PAGE_SIZE, nodes: set[str] | None = None) -> int:
    """Add the values curators accepted or corrected (the curated graph) to the records' values.

    The curated graph holds the same triples a task reads (``?subject link ?artifact .
    ?subject property ?value``), so the task's own value query runs on it unchanged.  A
    curated value counts as known: the gap is closed and the value is a training label.
    Returns the number of values added.  ``nodes``: :func:`curated_artifacts`, when known.
    """
    nodes = curated_artifacts(store, graph) if nodes is None else nodes
    touched = [r for r in records if r.iri in nodes]
    added = 0
    for start in range(0, len(touched), page_size):
        page = {r.iri: r for r in touched[start:start + page_size]}
        objects = [URIRef(iri) for iri in page]
        for task in tasks:
            added += read_task_values(store, graph, objects, task, page)
        for record in page.values():
            for values in record.values.values():
                values.sort()
    return added


def assign_labels(records: list[ArtifactRecord], labels: dict[str, TaskLabels],
                  value_groups: dict[str, dict[str, list[str]]]) -> None:
    """Set each record's label per task: the kept group of its values with the largest support."""
    for task_name, task_labels in labels.items():
        kept = {g.id: g.support for g in task_labels.groups}
        mapping = value_groups.get(task_name, {})
        for record in records:
            candidates = {gid for v in record.values.get(task_name, []) for gid in mapping.get(v, [])}
            best = sorted((gid for gid in candidates if gid in kept), key=lambda gid: (-kept[gid], gid))
            record.labels[task_name] = best[0] if best else None
