"""Fingerprints: what a prediction depends on, hashed, so that the next sync can tell what changed.

- an artifact's fingerprint (:func:`record_fingerprint`): its values, texts, images, labels and
  statement subjects -- a new input a model reads must join the record (records.ArtifactRecord),
  and so this fingerprint;
- the run's fingerprint (:func:`run_fingerprint`): models, tasks, group concepts, selection options,
  the profile -- when it changes, every artifact is predicted again;
- the input key (:func:`input_key`): everything a run reads, from the store's content digest, for
  the fast path that recognises an unchanged store without extracting anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from ..config import Settings
from ..graphs import OwnGraphs
from ..predictions import SelectionOptions
from ..profiles import Profile
from ..records import ArtifactRecord
from ..task_types import Task, TaskLabels


def stable_hash(data: Any) -> str:
    """A short hex digest of JSON-able ``data`` (keys sorted: the same data, the same digest)."""
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:32]


def record_fingerprint(record: ArtifactRecord) -> str:
    """Everything a prediction of this artifact depends on, besides the models."""
    d = record.to_dict()
    d["texts"] = sorted(map(json.dumps, d["texts"]))
    d["images"] = sorted(d["images"])
    d["image_nodes"] = sorted(d["image_nodes"])
    d["values"] = {k: sorted(v) for k, v in d["values"].items()}
    return stable_hash(d)


def as_hex(fp: Any) -> str:
    """A fingerprint (16 bytes, or already text) as hex text."""
    return fp.hex() if isinstance(fp, bytes) else str(fp)


def training_fingerprints(records: Sequence[ArtifactRecord], fingerprints: Mapping[str, Any]) -> dict[str, str]:
    """The fingerprints of the labelled artifacts: what the models were trained on."""
    return {r.iri: as_hex(fingerprints[r.iri]) for r in records if any(v is not None for v in r.labels.values())}


def changed_share(old: Mapping[str, str], new: Mapping[str, str]) -> float:
    """The share of ``old``'s artifacts whose fingerprint changed (new and gone ones count)."""
    if not old:
        return 1.0 if new else 0.0
    changed = sum(1 for k in set(old) | set(new) if old.get(k) != new.get(k))
    return changed / len(old)


def model_fingerprint(card: Mapping) -> str:
    """The models' fingerprint from their card (a hash of the card when it has none)."""
    return str(card.get("fingerprint", "")) or stable_hash(card)


def run_fingerprint(model_fp: str, tasks: Sequence[Task], labels: Mapping[str, TaskLabels],
                    options: SelectionOptions, predictions_graph: str, profile: Profile | None = None) -> str:
    """What every prediction depends on: models, tasks, group concepts, selection options, the profile."""
    return stable_hash({
        "model": model_fp,
        "tasks": [[t.name, t.property, t.subject_link, t.subject_class, t.artifact_class, t.min_confidence]
                  + ([t.subject_inverse, t.group_class, t.begin_property, t.end_property]
                     if t.subject_inverse or t.grouping == "date" else [])
                  for t in tasks],
        "profile": profile.fingerprint() if profile is not None else None,
        "groups": {k: [[g.id, g.concept] for g in v.groups] for k, v in sorted(labels.items())},
        "top_k": options.top_k,
        "min_confidence": options.min_confidence,
        "graph": predictions_graph,
        "format": 1,
        **options.fingerprint(),
    })


def input_key(digest: str, tasks: Sequence[Task], settings: Settings, options: SelectionOptions, graphs: OwnGraphs,
              card: Mapping, profile: Profile | None = None) -> str:
    """Everything a run reads, when the store can digest its content (Store.content_digest): the same
    key as the last run's means the same predictions, without extracting anything."""
    return stable_hash({
        "store": digest,
        "tasks": [asdict(t) for t in tasks],
        "model": model_fingerprint(card),
        "top_k": options.top_k,
        "min_confidence": options.min_confidence,
        "min_precision": options.min_precision,
        "graphs": [str(graphs.predictions), str(graphs.provenance)],
        "literal_features": list(settings.literal_features),
        "images": [settings.images_root, settings.fetch_images],
        "profile": profile.fingerprint() if profile is not None else None,
        "format": 1,
    })
