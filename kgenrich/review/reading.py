"""What the review page reads: the collection's tasks, the queue, one artifact and its history,
statistics, the label search.

Everything comes from the store through queries/review_*.rq.  The tasks and their label groups
come from the one front half (pipeline.load_inputs, values only) and are kept for a few minutes;
the records of the artifacts a page shows are read through the same door (pipeline.read_records),
so they hold the curated values exactly as every command sees them.
The queue is answered from an index of the live predictions (queries/review_live.rq) and of the
review graph (queries/review_all.rq) that every request checks against the store with one cheap
query (queries/review_versions.rq: live statements, newest prediction activity, number of
reviews) and reads again when a sync or any reviewer changed them: a queue page then costs
milliseconds instead of a sort of every live prediction in SPARQL.  Pages are keyset pages (the
key of the last row shown), so deciding rows never shifts the rows of the next page away.

The parts: collection (the cached collection, labels and queue index), queue, artifact_page (with
the modality scores computed on demand), progress (statistics, export rows), label_search.
"""

from __future__ import annotations

from .artifact_page import ArtifactReading
from .label_search import LabelSearch
from .progress import ProgressReading


class Reader(ArtifactReading, ProgressReading, LabelSearch):
    """Everything the review page reads, over one store and its settings (shared by the requests)."""
