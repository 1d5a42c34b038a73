"""What the next sync learns from the review graph: rejected values are never proposed again.

(Accepted and corrected values need nothing here: they sit in the curated graph, which the
pipeline reads as known values -- dataset.merge_curated.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from .. import sparql
from ..graphs import OwnGraphs
from ..store import Store
from ..task_types import Task

Rejections = dict[tuple[str, str], set[str]]  # (artifact, task name) -> rejected value IRIs


def rejected_values(store: Store, graphs: OwnGraphs, tasks: Sequence[Task]) -> Rejections:
    """The values curators rejected (or corrected away), per artifact and task."""
    names = {t.iri: t.name for t in tasks}
    out: Rejections = {}
    for row in store.select(sparql.prepare("review_rejected", graph=graphs.reviews)):
        task = names.get(str(row["task"]))
        if task is not None:
            out.setdefault((str(row["artifact"]), task), set()).add(str(row["value"]))
    return out


def fold_rejections(fingerprints: Mapping[str, str | bytes], rejected: Rejections) -> dict[str, str | bytes]:
    """Artifact fingerprints that also cover the artifact's rejected values, so that a new
    rejection makes an incremental sync predict that artifact again (and only that one).
    An artifact without rejections keeps its fingerprint exactly.  Fingerprints are hex strings
    or their 16 raw bytes; each comes back in the form it came in."""
    per_artifact: dict[str, list[str]] = {}
    for (artifact, task), values in rejected.items():
        per_artifact.setdefault(artifact, []).extend(f"{task}\x1f{v}" for v in values)
    out = dict(fingerprints)
    for artifact, items in per_artifact.items():
        if artifact in out:
            fp = out[artifact]
            blob = "\x1e".join([fp.hex() if isinstance(fp, bytes) else fp, *sorted(items)]).encode("utf-8")
            digest = hashlib.sha256(blob).digest()[:16]
            out[artifact] = digest if isinstance(fp, bytes) else digest.hex()
    return out
