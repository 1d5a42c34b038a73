"""kgenrich sync: the whole flow, incremental, streamed in chunks, written safely.

``run_sync`` (run.py) is the list of phases, each a module here with typed inputs and outputs:

1. definitions and scan (scan.py): the tasks and profile; one paged pass over the collection that
   keeps a fingerprint and the task values per artifact, the label groups, curators' rejections;
2. fast path (fastpath.py): the store is as the last run read it -> no work;
3. models (models.py): reused (known by their card, loaded only to predict) or trained when missing
   or stale; the ``Trainer`` and ``TrainedEnsemble`` protocols;
4. diff (diff.py, fingerprints.py, state.py): what changed since the last run, from the
   fingerprints the provenance graph keeps;
5. predict–validate–spool (predict.py, spool.py): for the changed artifacts, chunk by chunk:
   records -> predictions -> N-Triples -> SHACL gate -> spool file;
6. write (write.py, provenance.py, shards.py): the spool into the live graphs in one write;
7. report (report.py): the ``SyncReport``, with the seconds and peak memory of every stage.

Where things live:
- the prediction graph (``settings.predictions_graph``): what ADASilk reads;
- the provenance graph (``[sync] provenance_graph``, default ``{predictions}/provenance``):
  the run activities, model cards, counts and the per-artifact input
  fingerprints that make the next sync incremental.  Keeping the fingerprints
  in the store (not in a local file) means they always describe the graph that
  is live, whichever machine runs the next sync;
- spool files ``{models_dir}/../sync-staging/{run}/``: the run's new triples, chunk by
  chunk, validated before they are appended; removed after the write, and at the
  start of the next run when a killed run left them;
- staging graphs ``{predictions}/staging/{run}/...``, only where a write is too large for
  one request to a remote store (or a sharded run): they hold the reified statements,
  their PROV activities and kgenrich's marks, never a plain triple -- the plain triples
  and minted productions are derived in the one request that applies them
  (queries/sync_apply_staged.rq), so no consumer can take a staging graph for data.
  Any staging graph left by a killed run is dropped at the start of the next.

Memory is bounded by the chunk (``[sync] chunk_size`` artifacts): the first pass keeps
a fingerprint and the task values per artifact; records, predictions and triples exist
for one chunk at a time (training keeps the labelled records it trains on).

Incremental means proportional: an artifact whose fingerprint (values, texts, images,
labels, statement subjects) and the run fingerprint (models, tasks, groups, options) are
unchanged keeps its predictions exactly as they are in the live graph -- they are not
read, not rewritten.  For the changed and deleted artifacts, what the live graph holds
from their inputs is looked up and replaced in ONE write: one transaction on the
embedded store, one update request (or Graph Store PUT of a whole new graph) on a
remote store.  When nothing changed, the run ends after comparing fingerprints, without
loading the models.

Curators' decisions (kgenrich/review/) feed back: accepted and corrected values sit in
the curated graph, which the first pass reads as known values (the gap is closed); rejected
values are never proposed again for their artifact.  The review and curated graphs are
never written, dropped or moved here.
"""

from .fingerprints import input_key, record_fingerprint, run_fingerprint
from .models import TRAINING_STATE, EnsembleTrainer, LazyEnsemble, TrainedEnsemble, Trainer
from .predict import build_chunk
from .report import Stages, SyncError, SyncReport, inactive_tasks
from .run import run_sync
from .shards import swap_shards
from .spool import SPOOL_DIR, SPOOL_KIND, Spool, drop_spools
from .state import State, drop_staging, read_state
from .write import WritePlan, write_graphs

__all__ = [
    "SPOOL_DIR", "SPOOL_KIND", "TRAINING_STATE", "EnsembleTrainer", "LazyEnsemble", "Spool", "Stages", "State",
    "SyncError", "SyncReport", "TrainedEnsemble", "Trainer", "WritePlan", "build_chunk", "drop_spools",
    "drop_staging", "inactive_tasks", "input_key", "read_state", "record_fingerprint", "run_fingerprint",
    "run_sync", "swap_shards", "write_graphs",
]
