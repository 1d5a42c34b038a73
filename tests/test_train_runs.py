"""Long training runs as users run them, in real processes: Ctrl-C and --resume, torchrun with two processes.

The collection is the demo generator's (150 artifacts with photographs and texts); the image
models are tiny, so a run takes seconds on a CPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from servers import free_port

from kgenrich.demo.generator import generate
from kgenrich.demo.run import demo_task_definitions
from kgenrich.namespaces import CONFIG_GRAPH
from kgenrich.store.embedded import EmbeddedStore

pytestmark = pytest.mark.slow

KGENRICH = [sys.executable, "-m", "kgenrich"]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]

COMMON = """
seed = 1
[models]
folds = 2
n_jobs = 1
threads = 1
[models.tabular]
num_boost_round = 20
[models.fusion]
num_boost_round = 30
"""
# fine-tuning a small ResNet from scratch, a checkpoint after every epoch, one DataLoader worker
FINE_TUNE = COMMON.replace("folds = 2", 'folds = 2\nmodalities = ["image", "tabular"]') + """
[models.image]
backbone = "resnet18"
weights = "none"
size = 32
epochs = 2
batch_size = 16
num_workers = 1
checkpoint_seconds = 0
"""
TABULAR_ONLY = COMMON.replace("folds = 2", 'folds = 2\nmodalities = ["tabular"]')
# pretrained EfficientNet-Lite0 features with trained heads: stable enough to compare two runs
FROZEN = COMMON.replace("folds = 2", 'folds = 2\nmodalities = ["image", "tabular"]') + """
[models.image]
backbone = "efficientnet_lite0"
freeze_backbone = true
size = 64
epochs = 20
batch_size = 16
lr = 3e-3
max_images = 1
num_workers = 0
"""


def environment():
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGENRICH_")}
    env.update(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    return env


def run(args, cwd, timeout=600):
    result = subprocess.run(args, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result


def snapshot(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    work = tmp_path_factory.mktemp("runs")
    generated = generate(work / "data", size=150, seed=1, progress=False)
    store = EmbeddedStore(work / "store")
    for path in generated.rdf_files:
        store.load_file(path)
    store.load_bytes(demo_task_definitions(150), "ntriples", graph=CONFIG_GRAPH)
    store.close()
    for name, text in (("fine-tune.toml", FINE_TUNE), ("tabular.toml", TABULAR_ONLY), ("frozen.toml", FROZEN)):
        (work / name).write_text(text)
    return work


def test_ctrl_c_leaves_the_models_as_they_were_and_resume_finishes(collection, tmp_path):
    models = tmp_path / "models"
    partial = tmp_path / "models.partial"
    base = KGENRICH + ["--store", str(collection / "store"), "--models-dir", str(models)]
    first = run(base + ["--config", str(collection / "tabular.toml"), "train", "--quiet"], collection)
    assert first.returncode == 0, first.stderr[-2000:]
    before = snapshot(models)

    command = base + ["--config", str(collection / "fine-tune.toml"), "train", "--quiet"]
    # a session of its own: Ctrl-C in a terminal reaches the whole process group, DataLoader workers included
    # (and Ctrl-C not ignored, even when these tests run as a background job of a script)
    child = subprocess.Popen(command, cwd=collection, env=environment(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    # wait until the first fold is finished and the second has a checkpoint
    while not ((partial / "progress" / "image" / "fold-1.npz").is_file()
               and (partial / "checkpoints" / "image-fold2" / "fit.pt").is_file()):
        assert child.poll() is None, child.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.1)
    os.killpg(child.pid, signal.SIGINT)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "interrupted" in err and "--resume" in err
    assert snapshot(models) == before  # the models directory is exactly as it was
    assert (partial / "checkpoints" / "image-fold2" / "fit.pt").is_file()

    resumed = run(command[:-1] + ["--resume", "--json"], collection)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    card = json.loads(resumed.stdout)
    assert any(n.startswith("resumed an interrupted run: 1 finished step") for n in card["notes"]), card["notes"]
    assert card["modalities"] == ["image", "tabular"] and card["training_data"]["folds"] == 2
    assert not partial.exists()
    # (the marker: kgenrich made this directory and may replace it, issue 21)
    assert sorted(p.name for p in models.iterdir()) == [".kgenrich-directory", "ensemble.json", "fusion", "image",
                                                        "tabular"]
    assert snapshot(models) != before


def test_torchrun_two_processes_train_and_sync_like_one(collection, tmp_path):
    from kgenrich.config import load_settings
    from kgenrich.models.base import ModalityModel
    from kgenrich.pipeline import load_inputs
    from kgenrich.store.embedded import EmbeddedStore
    from kgenrich.sync import run_sync
    from kgenrich.training import train_ensemble

    settings = load_settings(str(collection / "frozen.toml"), flags={"store": str(collection / "store")})
    store = EmbeddedStore(collection / "store")
    inputs = load_inputs(store, settings, progress=False)
    store.close()
    single = train_ensemble(inputs.records, inputs.labels, settings, tmp_path / "single", progress=False)

    models = tmp_path / "ddp"
    ddp_store = tmp_path / "store-ddp"
    shutil.copytree(collection / "store", ddp_store)
    options = ["-m", "kgenrich", "--config", str(collection / "frozen.toml"), "--store", str(ddp_store),
               "--models-dir", str(models)]
    trained = run(TORCHRUN + ["--master-port", str(free_port())] + options + ["train", "--quiet"], tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    card = json.loads((models / "ensemble.json").read_text())
    assert card["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert single.card["distributed"] == {"world_size": 1, "backend": None}
    assert card["groups"] == single.card["groups"] and card["modalities"] == single.card["modalities"]
    # one models directory, written by rank 0 alone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp", "single", "store-ddp"]
    diffs = [abs(card["scores"]["image"][t]["macro_f1"] - single.card["scores"]["image"][t]["macro_f1"])
             for t in card["groups"]]
    assert max(diffs) < 0.12 and np.mean(diffs) < 0.06, diffs
    # fusion is compared on its log-loss: its macro-F1 also depends on whether the out-of-fold
    # decision rule switched on, a yes/no choice that small differences of the inputs can flip
    ratios = [card["scores"]["fusion"][t]["log_loss"] / single.card["scores"]["fusion"][t]["log_loss"]
              for t in card["groups"]]
    assert all(0.85 < r < 1.15 for r in ratios), ratios
    # the two final image models agree on almost every artifact
    ddp_image = ModalityModel.load(models / "image", settings)
    p, q = single.models["image"].predict(inputs.records), ddp_image.predict(inputs.records)
    for task in card["groups"]:
        rows = ~np.isnan(p[task]).any(axis=1)
        assert (p[task][rows].argmax(1) == q[task][rows].argmax(1)).mean() > 0.85, task

    # sync under torchrun: both ranks predict a shard, rank 0 writes; the same statements as one process
    one_store = tmp_path / "store-one"
    shutil.copytree(ddp_store, one_store)
    synced = run(TORCHRUN + ["--master-port", str(free_port())] + options + ["sync", "--json"], tmp_path)
    assert synced.returncode == 0, synced.stderr[-3000:]
    report = json.loads(synced.stdout)
    assert report["wrote"] and report["predictions"] > 0 and not report["trained"]
    settings.models_dir = str(models)
    store = EmbeddedStore(one_store)
    alone = run_sync(store, settings, progress=False)
    store.close()
    assert alone.predictions == report["predictions"]
    assert statements(one_store) == pytest.approx(statements(ddp_store), abs=1e-5)


def statements(store_dir: Path) -> dict[str, float]:
    """Statement IRI -> confidence in the prediction graph."""
    from rdflib import URIRef

    store = EmbeddedStore(store_dir)
    try:
        triples = list(store.graph_triples(URIRef("http://data.silknow.org/predictions")))
    finally:
        store.close()
    return {str(s): float(o) for s, p, o in triples if str(p) == "http://data.silknow.org/ontology/L18"}
