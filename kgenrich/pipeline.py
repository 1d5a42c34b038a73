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

from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Sequence

from .config import Settings
from .dataset import DEFAULT_PAGE_SIZE, GraphFilter, assign_labels, iter_records, merge_curated
from .errors import KgenrichError
from .graphs import OwnGraphs
from .labels import assign_ancestors, compute_label_groups, value_ancestors
from .records import ArtifactRecord, Task, TaskLabels
from .store import Store
from .tasks import load_tasks


@dataclass
class Inputs:
    """What the models and the write-back work on."""

    tasks: list[Task]
    labels: dict[str, TaskLabels]
    records: list[ArtifactRecord]
    own: OwnGraphs


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


def extract(store: Store, tasks: list[Task], labels: Optional[Mapping[str, TaskLabels]] = None,
            page_size: int = DEFAULT_PAGE_SIZE, progress: bool = True, skip_graph: Optional[GraphFilter] = None,
            with_inputs: bool = True, literal_properties: Iterable[str] = ()) -> list[ArtifactRecord]:
    """Records with their label per task.  With ``labels`` given (e.g. a trained model's groups),
    records are labelled with those groups; otherwise with the groups found in these records."""
    records = list(iter_records(store, tasks, page_size=page_size, with_inputs=with_inputs, skip_graph=skip_graph,
                                progress=progress, literal_properties=literal_properties))
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
                 skip_graph: Optional[GraphFilter] = None, progress: bool = False) -> dict[str, TaskLabels]:
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
    tasks = select_tasks(load_tasks(store, settings), task_names)
    records = list(iter_records(store, tasks, page_size=settings.page_size, with_inputs=with_inputs,
                                skip_graph=own.is_ours, progress=progress,
                                literal_properties=settings.literal_features if with_inputs else ()))
    # Curators' accepted and corrected values (the review page) are known values like any other.
    merge_curated(store, own.curated, tasks, records, page_size=settings.page_size)
    labels, value_groups = compute_label_groups(store, tasks, records)
    assign_labels(records, labels, value_groups)
    if with_inputs:
        _attach_ancestors(store, tasks, records)
    return Inputs(tasks, labels, records, own)
