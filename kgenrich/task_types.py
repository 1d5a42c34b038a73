"""What a prediction task is and its label groups: plain dataclasses that every stage shares.

tasks.py reads tasks from RDF, labels.py finds their label groups; records.py holds what is read
of one artifact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Task:
    """One prediction task, read from RDF (a profile file under ontology/profiles/, or a config graph)."""

    name: str  # short id, e.g. "material"
    iri: str  # the kge:Task resource
    label: str
    artifact_class: str  # e.g. ecrm:E22_Man-Made_Object (subclasses count too)
    property: str  # the predicate of the predicted statement, e.g. ecrm:P126_employed
    grouping: str  # "collection" | "country" | "century" | "value" | "broader" | "date"
    min_support: int = 1
    # The statement's subject is the node S with ``S subject_link ?artifact``
    # (e.g. the production, via ecrm:P108_has_produced), or with ``?artifact subject_link S``
    # when ``subject_inverse`` (Linked Art: crm:P108i_was_produced_by); None: the artifact itself.
    subject_link: str | None = None
    subject_inverse: bool = False
    subject_class: str | None = None  # class of that node, e.g. ecrm:E12_Production
    # For values reached in two steps: ``S property ?x . ?x value_step ?value``
    # (time: P4_has_time-span / P86_falls_within).  The predicted statement
    # then links S directly to the group concept, as SILKNOW's pipeline did.
    value_step: str | None = None
    facet: str | None = None  # skos:Collection whose member collections are the groups
    group_class: str | None = None  # century grouping: values of this class are groups themselves
    order: int = 0
    min_confidence: float = 0.0
    # Only values that have one of ``value_types`` through ``value_type_path`` count (propertypath.PropertyPath).
    value_type_path: Any | None = None
    value_types: tuple[str, ...] = ()
    # Date grouping: the unit ("century" | "decade") and the properties of a span's bounds.
    date_unit: str | None = None
    begin_property: str | None = None
    end_property: str | None = None
    # Broader grouping: the path one step up, and the top concepts or the depth to roll up to.
    broader_path: Any | None = None
    top_concepts: tuple[str, ...] = ()
    depth: int | None = None

    def link_triple(self, subject: str, artifact: str) -> tuple[str, str, str]:
        """The triple that links a (minted) subject and its artifact, in the link's direction."""
        assert self.subject_link
        if self.subject_inverse:
            return artifact, self.subject_link, subject
        return subject, self.subject_link, artifact


@dataclass
class Group:
    """A label group: what a classifier predicts for one task."""

    id: str  # stable short id, e.g. "animal_fibre", "FR", "aat:300404512"
    label: str
    concept: str  # representative IRI written as the predicted value
    members: list[str] = field(default_factory=list)  # concepts that roll up to it (seen in the data)
    support: int = 0  # artifacts whose value falls in the group


@dataclass
class TaskLabels:
    """The label groups of one task as found in the graph."""

    task: Task
    groups: list[Group]  # kept for training (support >= task.min_support), ordered by id
    dropped: list[Group]  # below the minimum support
    unmapped: int  # artifacts whose values map to no group at all
    unmapped_values: list[str] = field(default_factory=list)

    @property
    def group_ids(self) -> list[str]:
        return [g.id for g in self.groups]

    def group(self, group_id: str) -> Group:
        for g in self.groups:
            if g.id == group_id:
                return g
        raise KeyError(group_id)
