"""The data that flows between stages about one artifact: its record (inputs, values, labels).

A plain dataclass so that every stage (and every modality) shares one vocabulary; dataset.py
fills it.  What a task and its label groups are: task_types.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ArtifactRecord:
    """Everything the models may see of one artifact, and its labels."""

    iri: str
    graph: str  # the museum graph
    museum: str  # short name of the museum graph (its last path segment)
    texts: list[tuple[str, str]] = field(default_factory=list)  # (text, language tag or ""), each once
    # the profile's text input name -> its texts (the same texts as ``texts``, kept apart by kind)
    text_fields: dict[str, list[str]] = field(default_factory=dict)
    images: list[str] = field(default_factory=list)  # image locations (schema:contentUrl, else the image IRI)
    image_nodes: list[str] = field(default_factory=list)  # the E38 image resources (for prov:used)
    labels: dict[str, str | None] = field(default_factory=dict)  # task -> kept group id or None
    values: dict[str, list[str]] = field(default_factory=dict)  # task -> asserted value IRIs (any group)
    subjects: dict[str, str | None] = field(default_factory=dict)  # task -> statement subject IRI
    # the profile's feature inputs (by name) and the configured literal_features (by property IRI)
    # -> their values (IRIs, numbers, years, texts)
    literals: dict[str, list[str]] = field(default_factory=dict)
    # task -> the broader concepts of its asserted values (thesaurus ancestors, the places a place
    # lies in, the period a time lies in), filled by pipeline.py
    ancestors: dict[str, list[str]] = field(default_factory=dict)

    def is_gap(self, task: str) -> bool:
        """True when the artifact has no asserted value at all for the task."""
        return not self.values.get(task)

    def to_dict(self) -> dict[str, Any]:
        return {
            "iri": self.iri,
            "graph": self.graph,
            "museum": self.museum,
            "texts": [{"text": t, "lang": lang} for t, lang in self.texts],
            "text_fields": {k: list(v) for k, v in self.text_fields.items()},
            "images": list(self.images),
            "image_nodes": list(self.image_nodes),
            "labels": dict(self.labels),
            "values": {k: list(v) for k, v in self.values.items()},
            "subjects": dict(self.subjects),
            "literals": {k: list(v) for k, v in self.literals.items()},
            "ancestors": {k: list(v) for k, v in self.ancestors.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArtifactRecord:
        return cls(
            iri=d["iri"],
            graph=d["graph"],
            museum=d["museum"],
            texts=[(t["text"], t.get("lang", "")) for t in d.get("texts", [])],
            text_fields={k: list(v) for k, v in d.get("text_fields", {}).items()},
            images=list(d.get("images", [])),
            image_nodes=list(d.get("image_nodes", [])),
            labels=dict(d.get("labels", {})),
            values={k: list(v) for k, v in d.get("values", {}).items()},
            subjects=dict(d.get("subjects", {})),
            literals={k: list(v) for k, v in d.get("literals", {}).items()},
            ancestors={k: list(v) for k, v in d.get("ancestors", {}).items()},
        )
