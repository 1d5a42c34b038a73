"""A sharded write (docs/scale.md, "Beyond one machine"): two processes predict a shard each
into staging graphs of a real Oxigraph server, and one request swaps them in."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import MINI, mini_settings
from servers import FakeTrainer, oxigraph  # noqa: F401  (fixture)
from test_sync import PRED
from test_sync_scale import _live

from kgenrich.store.embedded import EmbeddedStore
from kgenrich.store.remote import RemoteStore
from kgenrich.sync import SyncReport, run_sync, swap_shards

pytestmark = [pytest.mark.server, pytest.mark.slow]

SHARD = """
import json, sys
sys.path.insert(0, {tests!r})
from helpers import mini_settings
from servers import FakeTrainer
from kgenrich.store.remote import RemoteStore
from kgenrich.sync import run_sync
query, update, gsp, models, reports, run, k, n = sys.argv[1:]
store = RemoteStore(query, update_endpoint=update, gsp_endpoint=gsp, batch_triples=40)
settings = mini_settings(models_dir=models)
settings.sections = {{"sync": {{"report_dir": reports}}}}
report = run_sync(store, settings, progress=False, trainer=FakeTrainer(version="2"), shard=(int(k), int(n)), run_id=run)
print(json.dumps(report.to_dict()))
"""


def test_two_processes_write_shards_into_staging_graphs_and_one_request_swaps_them(oxigraph, tmp_path):
    store = RemoteStore(oxigraph.query, update_endpoint=oxigraph.update, gsp_endpoint=oxigraph.gsp, batch_triples=40)
    store.load_file(MINI)
    settings = mini_settings(models_dir=str(tmp_path / "models"))
    settings.sections = {"sync": {"report_dir": str(tmp_path / "reports")}}
    run_sync(store, settings, progress=False, trainer=FakeTrainer(version="1"))  # trains, writes version 1
    old = _live(store)

    # new models: each shard predicts its half of the artifacts, in a process of its own
    script = tmp_path / "shard.py"
    script.write_text(SHARD.format(tests=str(Path(__file__).resolve().parent)))
    run = "run-sharded"
    children = [subprocess.Popen([sys.executable, str(script), oxigraph.query, oxigraph.update, oxigraph.gsp,
                                  str(tmp_path / "models"), str(tmp_path / "reports"), run, str(k), "2"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in range(2)]
    reports = []
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        reports.append(SyncReport(**json.loads(out)))
    assert all(r.write == "staged" and not r.wrote for r in reports)
    assert all(r.repredicted_artifacts > 0 for r in reports)  # both shards had work
    staging = {str(g) for g in store.graph_names() if "/staging/" in str(g)}
    assert {g.rsplit("/", 2)[1] for g in staging} == {"0", "1"}
    assert _live(store) == old  # nothing is live before the swap

    merged = swap_shards(store, settings, run, reports)
    assert merged.wrote and not [g for g in store.graph_names() if "/staging/" in str(g)]
    # the same graph as one process writes
    single = EmbeddedStore(None)
    single.load_file(MINI)
    one = run_sync(single, mini_settings(models_dir=str(tmp_path / "single-models")), progress=False,
                   trainer=FakeTrainer(version="2"))
    assert _live(store) == _live(single)
    assert merged.predictions == one.predictions == len({s for s, _, _ in store.graph_triples(PRED)
                                                         if "/statement/" in str(s)})
    # the state the swap wrote describes the live graph: the next sync has nothing to do
    again = run_sync(store, settings, progress=False, trainer=FakeTrainer(version="2"))
    assert not again.wrote and again.unchanged == merged.predictions
