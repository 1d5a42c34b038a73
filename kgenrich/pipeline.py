"""The front half of the flow, written once: store -> tasks -> records -> label groups.

Every command that needs the collection (``labels``, ``dataset``, ``train``,
``evaluate``, ``validate``, ``sync``, the review page) calls
:func:`load_inputs`; none of them strings the stages together itself.  The
store is read once: one paged pass extracts the records (kgenrich's own graphs
skipped), the label groups are computed from those records, and every record
gets its label per task.  Values curators accepted or corrected on the review
page (the curated graph) are merged into the records as known values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

from .config import Settings, check_table
from .dataset import (
    DEFAULT_PAGE_SIZE,
    GraphFilter,
    assign_labels,
    curated_artifacts,
    fetch_records,
    iter_records,
    merge_curated,
)
from .errors import ConfigError, KgenrichError
from .graphs import OwnGraphs
from .labels import assign_ancestors, compute_label_groups, value_ancestors
from .profiles import Profile
from .records import ArtifactRecord, Task, TaskLabels
from .store import Store
from .tasks import load_definitions


@dataclass
class Inputs:
    """What the models and the write-back work on."""

    tasks: list[Task]
    labels: dict[str, TaskLabels]
    records: list[ArtifactRecord]
    own: OwnGraphs
    value_groups: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # task -> value -> groups
    profile: Profile | None = None  # where the inputs sit (profiles.py), and why this profile
    # Kept by scan_inputs for the records read again chunk by chunk (reread / complete): the
    # artifacts with curated values, and the broader concepts of every value asked about so far
    # (values repeat from chunk to chunk; each is asked of the store once).
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


def extract(store: Store, tasks: list[Task], labels: Mapping[str, TaskLabels] | None = None,
            page_size: int = DEFAULT_PAGE_SIZE, progress: bool = True, skip_graph: GraphFilter | None = None,
            with_inputs: bool = True, literal_properties: Iterable[str] = (),
            profile: Profile | None = None) -> list[ArtifactRecord]:
    """Records with their label per task.  With ``labels`` given (e.g. a trained model's groups),
    records are labelled with those groups; otherwise with the groups found in these records.
    ``profile``: where texts, images and features sit (none are read without one)."""
    records = list(iter_records(store, tasks, page_size=page_size, with_inputs=with_inputs, skip_graph=skip_graph,
                                progress=progress, literal_properties=literal_properties, profile=profile))
    computed, value_groups = compute_label_groups(store, tasks, records)
    assign_labels(records, dict(labels) if labels is not None else computed, value_groups)
    if with_inputs:
        _attach_ancestors(store, tasks, records)
    return records


def _attach_ancestors(store: Store, tasks: list[Task], records: list[ArtifactRecord]) -> None:
    """The broader concepts of every asserted value, asked of the store once per run."""
    values = {v for r in records for t in tasks for v in r.values.get(t.name, [])}
    assign_ancestors(records, tasks, value_ancestors(store, values))


def label_groups(store: Store, tasks: list[Task], page_size: int = DEFAULT_PAGE_SIZE,
                 skip_graph: GraphFilter | None = None, progress: bool = False) -> dict[str, TaskLabels]:
    """Label groups of every task over the whole store (values only, no texts or images read)."""
    records = list(iter_records(store, tasks, page_size=page_size, with_inputs=False, skip_graph=skip_graph,
                                progress=progress))
    labels, _ = compute_label_groups(store, tasks, records)
    return labels


def load_inputs(store: Store, settings: Settings, *, with_inputs: bool = True, task_names: Iterable[str] = (),
                progress: bool = True) -> Inputs:
    """Tasks, label groups and labelled records of the store, in one pass over it.

    ``with_inputs=False`` reads only what label groups need (no texts, images, literals or the
    values' broader concepts).
    """
    own = OwnGraphs.from_settings(settings)
    definitions = load_definitions(store, settings)
    tasks = select_tasks(definitions.tasks, task_names)
    records = list(iter_records(store, tasks, page_size=settings.page_size, with_inputs=with_inputs,
                                skip_graph=own.is_ours, progress=progress,
                                literal_properties=settings.literal_features if with_inputs else (),
                                profile=definitions.profile))
    # Curators' accepted and corrected values (the review page) are known values like any other.
    merge_curated(store, own.curated, tasks, records, page_size=settings.page_size)
    labels, value_groups = compute_label_groups(store, tasks, records)
    assign_labels(records, labels, value_groups)
    if with_inputs:
        _attach_ancestors(store, tasks, records)
    return Inputs(tasks, labels, records, own, value_groups, profile=definitions.profile)


def scan_inputs(store: Store, settings: Settings, keep: Callable[[ArtifactRecord], ArtifactRecord | None], *,
                tasks: list[Task] | None = None, profile: Profile | None = None, progress: bool = True,
                timed: Callable[[str], AbstractContextManager] | None = None) -> Inputs:
    """:func:`load_inputs` for a collection that need not fit in memory: every record is handed to
    ``keep`` as it is read, and only what ``keep`` returns is kept (e.g. the IRI, graph and task
    values, which is all label groups need) and labelled.  Records are read again when needed
    with :func:`reread`.  ``timed(stage)``: a context that times the stages (extraction, label_groups)."""
    timed = timed or (lambda stage: nullcontext())
    own = OwnGraphs.from_settings(settings)
    if tasks is None or profile is None:
        definitions = load_definitions(store, settings, profile=profile)
        tasks = tasks if tasks is not None else definitions.tasks
        profile = definitions.profile
    kept = []
    # Curators' accepted and corrected values count as known, as in load_inputs; they are merged
    # before ``keep`` sees a record (a fingerprint must cover them), a page of such records at a time.
    curated = curated_artifacts(store, own.curated)
    waiting: list[ArtifactRecord] = []

    def hand(record: ArtifactRecord) -> None:
        small = keep(record)
        if small is not None:
            kept.append(small)

    def hand_over_curated() -> None:
        merge_curated(store, own.curated, tasks, waiting, page_size=settings.page_size, nodes=curated)
        for record in waiting:
            hand(record)
        waiting.clear()

    with timed("extraction"):
        for record in iter_records(store, tasks, page_size=settings.page_size, with_inputs=True,
                                   skip_graph=own.is_ours, progress=progress,
                                   literal_properties=settings.literal_features, profile=profile):
            if record.iri in curated:
                waiting.append(record)
                if len(waiting) >= settings.page_size:
                    hand_over_curated()
            else:
                hand(record)
        if waiting:
            hand_over_curated()
    with timed("label_groups"):
        labels, value_groups = compute_label_groups(store, tasks, kept)
        assign_labels(kept, labels, value_groups)
    return Inputs(tasks, labels, kept, own, value_groups, curated=curated, profile=profile)


def reread(store: Store, settings: Settings, inputs: Inputs, records: Sequence[ArtifactRecord]) -> list[ArtifactRecord]:
    """Whole, labelled records of these artifacts (known by IRI and graph), read again from the store
    page by page per museum graph, in the order given."""
    by_graph: dict[str, list[str]] = {}
    for r in records:
        by_graph.setdefault(r.graph, []).append(r.iri)
    found: dict[str, ArtifactRecord] = {}
    page = max(1, int(settings.page_size))
    for graph, iris in by_graph.items():
        for start in range(0, len(iris), page):
            for record in fetch_records(store, graph, iris[start:start + page], inputs.tasks,
                                        literal_properties=settings.literal_features, profile=inputs.profile):
                found[record.iri] = record
    again = [found[r.iri] for r in records if r.iri in found]
    merge_curated(store, inputs.own.curated, inputs.tasks, again, page_size=page, nodes=inputs.curated)
    return complete(store, inputs, again)


def complete(store: Store, inputs: Inputs, records: list[ArtifactRecord]) -> list[ArtifactRecord]:
    """Whole records read by :func:`scan_inputs` or :func:`reread`, made ready for the models:
    their labels, and the broader concepts of their values."""
    inputs.label(records)
    values = {v for r in records for t in inputs.tasks for v in r.values.get(t.name, [])}
    new = values - inputs.asked
    if new:
        inputs.ancestors.update(value_ancestors(store, new))
        inputs.asked |= new
    assign_ancestors(records, inputs.tasks, inputs.ancestors)
    return records


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

