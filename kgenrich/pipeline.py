"""The front half of the flow, written once: store -> tasks -> records -> label groups.

Every command that needs the collection (``labels``, ``dataset``, ``train``,
``evaluate``, ``validate``, ``sync``, ``config apply``'s preview, the review
page, the benches) calls :func:`load_inputs` (``sync``: :func:`scan_inputs`,
the same reader with a ``keep`` hook); none of them strings the stages together
itself.  The store is read once: one paged pass extracts the records
(kgenrich's own graphs skipped), the label groups are computed from those
records, and every record gets its label per task.  Records read again later
(:func:`read_records`, :func:`reread`: a sync chunk, the artifact a review page
shows) come through the same door.

Values curators accepted or corrected on the review page (the curated graph)
are known values like any other: they are merged into the records in one
place, :func:`_with_curated`, which every record read here passes through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

from .config import Settings, check_table
from .dataset import assign_labels, curated_artifacts, fetch_records, iter_records, merge_curated
from .errors import ConfigError, KgenrichError
from .graphs import OwnGraphs
from .labels import assign_ancestors, compute_label_groups, value_ancestors
from .profiles import Profile
from .records import ArtifactRecord
from .store import Store
from .task_types import Task, TaskLabels
from .tasks import load_definitions

# Records waiting for their curated values are merged a page at a time; records that follow a
# waiting one wait too (the collection keeps the store's order), at most this many pages of them.
_WAITING_PAGES = 4

Keep = Callable[[ArtifactRecord], ArtifactRecord | None]
Timed = Callable[[str], AbstractContextManager]


@dataclass
class Inputs:
    """What the models and the write-back work on."""

    tasks: list[Task]
    labels: dict[str, TaskLabels]
    records: list[ArtifactRecord]
    own: OwnGraphs
    value_groups: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # task -> value -> groups
    profile: Profile | None = None  # where the inputs sit (profiles.py), and why this profile
    # Kept for the records read again later (read_records / reread / complete): the artifacts with
    # curated values, and the broader concepts of every value asked about so far (values repeat from
    # chunk to chunk; each is asked of the store once).
    curated: set[str] | None = None
    ancestors: dict[str, list[str]] = field(default_factory=dict, repr=False)
    asked: set[str] = field(default_factory=set, repr=False)

    def label(self, records: list[ArtifactRecord]) -> list[ArtifactRecord]:
        """Give records read later (e.g. by :func:`reread`) their labels, as these inputs' records have them."""
        assign_labels(records, self.labels, self.value_groups)
        return records


def select_tasks(tasks: Sequence[Task], names: Iterable[str]) -> list[Task]:
    """The tasks with these names (all when none are given); an unknown name is an error."""
    names = list(names or ())
    if not names:
        return list(tasks)
    known = {t.name for t in tasks}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise KgenrichError(f"unknown task(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return [t for t in tasks if t.name in names]


def load_inputs(store: Store, settings: Settings, *, with_inputs: bool = True, task_names: Iterable[str] = (),
                progress: bool = True, tasks: Sequence[Task] | None = None, profile: Profile | None = None,
                keep: Keep | None = None, timed: Timed | None = None) -> Inputs:
    """Tasks, label groups and labelled records of the store, in one pass over it.

    ``with_inputs=False`` reads only what label groups need (no texts, images, literals or the
    values' broader concepts).  ``tasks``: these tasks instead of the store's enabled ones (e.g.
    the tasks a new configuration would define; ``profile`` then says where their inputs sit,
    default the store's).  ``keep``: every record is handed to it as it is read, and only what it
    returns is kept and labelled (:func:`scan_inputs`).  ``timed(stage)``: a context that times
    the stages (extraction, label_groups).
    """
    timed = timed or (lambda stage: nullcontext())
    own = OwnGraphs.from_settings(settings)
    if tasks is None or (profile is None and with_inputs):
        definitions = load_definitions(store, settings, profile=profile)
        tasks = tasks if tasks is not None else select_tasks(definitions.tasks, task_names)
        profile = definitions.profile
    tasks = list(tasks)
    curated = curated_artifacts(store, own.curated)
    records: list[ArtifactRecord] = []
    with timed("extraction"):
        read = iter_records(store, tasks, page_size=settings.page_size, with_inputs=with_inputs,
                            skip_graph=own.is_ours, progress=progress,
                            literal_properties=settings.literal_features if with_inputs else (), profile=profile)
        for record in _with_curated(store, settings, own, tasks, read, curated):
            kept = keep(record) if keep is not None else record
            if kept is not None:
                records.append(kept)
    with timed("label_groups"):
        labels, value_groups = compute_label_groups(store, tasks, records)
        inputs = Inputs(tasks, labels, records, own, value_groups, profile=profile, curated=curated)
        inputs.label(records)
    if with_inputs and keep is None:
        _attach_ancestors(store, inputs, records)
    return inputs


def scan_inputs(store: Store, settings: Settings, keep: Keep, *, tasks: list[Task] | None = None,
                profile: Profile | None = None, progress: bool = True, timed: Timed | None = None) -> Inputs:
    """:func:`load_inputs` for a collection that need not fit in memory: only what ``keep`` returns
    (e.g. the IRI, graph and task values, which is all label groups need) is kept and labelled.
    Records are read again when needed with :func:`reread`."""
    return load_inputs(store, settings, tasks=tasks, profile=profile, progress=progress, keep=keep, timed=timed)


def _with_curated(store: Store, settings: Settings, own: OwnGraphs, tasks: list[Task],
                  records: Iterable[ArtifactRecord], curated: set[str] | None) -> Iterator[ArtifactRecord]:
    """The records, in their order, with the values curators accepted or corrected on the review page
    (the curated graph) merged in as known values: the one place they are merged.  A fingerprint or
    a label group must cover them, so they are merged before anyone sees the record."""
    nodes = curated_artifacts(store, own.curated) if curated is None else curated
    page = max(1, int(settings.page_size))
    waiting: list[ArtifactRecord] = []
    touched = 0
    for record in records:
        if not waiting and record.iri not in nodes:
            yield record
            continue
        waiting.append(record)
        touched += record.iri in nodes
        if touched >= page or len(waiting) >= _WAITING_PAGES * page:
            merge_curated(store, own.curated, tasks, waiting, page_size=page, nodes=nodes)
            yield from waiting
            waiting, touched = [], 0
    if waiting:
        merge_curated(store, own.curated, tasks, waiting, page_size=page, nodes=nodes)
        yield from waiting


def read_records(store: Store, settings: Settings, inputs: Inputs, artifacts: Iterable[tuple[str, str]], *,
                 tasks: Sequence[Task] | None = None, with_inputs: bool = True, literals: bool = True,
                 curated: bool = True, fresh: bool = False) -> list[ArtifactRecord]:
    """Whole records of these artifacts ((IRI, museum graph) pairs), read again from the store page
    by page per museum graph, in the order given; no labels yet (:func:`complete` gives them).
    ``tasks``: whose values to read (default the inputs' tasks); ``with_inputs=False``: values only
    (no texts, images or literals); ``literals=False``: no literal features; ``curated=False``: the
    values as the museum graph has them, without curators' values; ``fresh``: the curated values as the
    store holds them now (the review page: a decision just made counts), not only on the artifacts
    that had some when the inputs were read (sync: its fingerprints were taken then)."""
    tasks = list(inputs.tasks if tasks is None else tasks)
    order: list[str] = []
    by_graph: dict[str, list[str]] = {}
    for iri, graph in artifacts:
        order.append(iri)
        by_graph.setdefault(graph, []).append(iri)
    found: dict[str, ArtifactRecord] = {}
    page = max(1, int(settings.page_size))
    literal_properties = settings.literal_features if with_inputs and literals else ()
    for graph, iris in by_graph.items():
        for start in range(0, len(iris), page):
            for record in fetch_records(store, graph, iris[start:start + page], tasks, with_inputs=with_inputs,
                                        literal_properties=literal_properties, profile=inputs.profile):
                found[record.iri] = record
    again = [found[iri] for iri in order if iri in found]
    if curated:
        again = list(_with_curated(store, settings, inputs.own, tasks, again, None if fresh else inputs.curated))
    return again


def reread(store: Store, settings: Settings, inputs: Inputs, records: Sequence[ArtifactRecord]) -> list[ArtifactRecord]:
    """Whole, labelled records of these artifacts (known by IRI and graph), read again from the store
    page by page per museum graph, in the order given."""
    return complete(store, inputs, read_records(store, settings, inputs, [(r.iri, r.graph) for r in records]))


def complete(store: Store, inputs: Inputs, records: list[ArtifactRecord]) -> list[ArtifactRecord]:
    """Whole records read by :func:`load_inputs` or :func:`read_records`, made ready for the models:
    their labels, and the broader concepts of their values."""
    inputs.label(records)
    _attach_ancestors(store, inputs, records)
    return records


def _attach_ancestors(store: Store, inputs: Inputs, records: list[ArtifactRecord]) -> None:
    """The broader concepts of the records' values, each value asked of the store once per run."""
    values = {v for r in records for t in inputs.tasks for v in r.values.get(t.name, [])}
    new = values - inputs.asked
    if new:
        inputs.ancestors.update(value_ancestors(store, new))
        inputs.asked |= new
    assign_ancestors(records, inputs.tasks, inputs.ancestors)


def store_model_settings(store: Store) -> dict:
    """The [models] table recorded on the store's configuration graph (kgs:modelSettings), or {}.

    ``kgenrich demo`` records its small models there, so that ``train``, ``evaluate`` and
    ``sync --retrain`` on the demo's store use them instead of the defaults for real
    collections.  Checked like a [models] table of kgenrich.toml.
    """
    import json

    from . import sparql
    from .namespaces import CONFIG_GRAPH

    rows = store.select(sparql.prepare("config_model_settings", config=CONFIG_GRAPH))
    if not rows:
        return {}
    where = f"the model settings on <{CONFIG_GRAPH}>"
    try:
        table = json.loads(str(rows[0]["settings"]))
    except ValueError as exc:
        raise ConfigError(f"{where}: not JSON ({exc})") from None
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: not a table")
    return check_table(where, "models", table)


def with_model_settings(settings: Settings, preset: Mapping) -> None:
    """Put ``preset`` under the settings' own [models] table (theirs win, nested tables key by key)."""
    own = settings.section("models")
    merged = dict(preset)
    for key, value in own.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    settings.sections = {**settings.sections, "models": merged}

