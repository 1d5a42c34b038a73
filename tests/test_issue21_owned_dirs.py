"""Issue 21, item 1: kgenrich removes or replaces only directories it can prove it made.

The reproduction of the issue (``--models-dir`` at a folder of the user's deleted it), the
``.partial`` / ``.old`` beside it, models directories of older versions (no marker), the demo's
store / data / models directories and sync's spool directories.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kgenrich import owned
from kgenrich.config import load_settings
from kgenrich.demo.generator import generate
from kgenrich.demo.run import demo_task_definitions, run_demo
from kgenrich.namespaces import CONFIG_GRAPH
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.sync import SPOOL_DIR, drop_spools
from kgenrich.training import legacy_models_layout

KGENRICH = [sys.executable, "-m", "kgenrich"]

TOML = """
seed = 1
[models]
modalities = ["tabular"]
folds = 2
n_jobs = 1
[models.tabular]
num_boost_round = 10
[models.fusion]
num_boost_round = 10
"""


def run(args, cwd, timeout=600):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGENRICH_")}
    env.update(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    result = subprocess.run(KGENRICH + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def tree(path: Path) -> dict[str, str]:
    """Every file under ``path`` with its content: what a refusal must leave exactly as it was."""
    return {str(p.relative_to(path)): p.read_text() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """A store with a small generated collection (tabular models only: a sync takes seconds)."""
    work = tmp_path_factory.mktemp("owned")
    generated = generate(work / "data", size=150, seed=1, progress=False)
    store = EmbeddedStore(work / "DEMO")
    for path in generated.rdf_files:
        store.load_file(path)
    store.load_bytes(demo_task_definitions(150), "ntriples", graph=CONFIG_GRAPH)
    store.close()
    (work / "kgenrich.toml").write_text(TOML)
    return work


def precious(folder: Path) -> dict[str, str]:
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("precious\n")
    (folder / "sub" / "b.txt").write_text("also precious\n")
    return tree(folder)


# ------------------------------------------------------------------ the reproduction
def test_models_dir_at_a_users_folder_is_refused_and_nothing_is_deleted(collection):
    # mkdir -p x/sub; echo precious > x/a.txt; kgenrich --store DEMO --models-dir x sync
    x = collection / "x"
    before = precious(x)
    out = run(["--store", "DEMO", "--models-dir", "x", "sync"], collection)
    assert out.returncode == 2, out.stdout + out.stderr
    errors = [line for line in out.stderr.splitlines() if "error" in line]  # (the rest: progress bars)
    assert len(errors) == 1 and errors[0].startswith("error: ") and "x is not a models directory" in errors[0]
    assert "a.txt" in errors[0] and "nothing was changed" in errors[0] and "--models-dir" in errors[0]
    assert tree(x) == before and (x / "sub").is_dir()
    assert not (collection / "x.partial").exists() and not (collection / "x.old").exists()
    # train refuses it alike
    out = run(["--store", "DEMO", "--models-dir", "x", "train"], collection)
    assert out.returncode == 2 and "x is not a models directory" in out.stderr and tree(x) == before


@pytest.mark.parametrize("suffix, what", [(".old", "a previous models directory"),
                                           (".partial", "an interrupted training run")])
def test_a_users_folder_beside_the_models_dir_is_refused(collection, suffix, what):
    beside = collection / f"y{suffix}"
    before = precious(beside)
    out = run(["--store", "DEMO", "--models-dir", "y", "sync"], collection)
    assert out.returncode == 2 and f"y{suffix} is not {what}" in out.stderr, out.stderr
    assert tree(beside) == before and not (collection / "y").exists()


def test_a_symbolic_link_or_a_file_in_place_of_old_is_refused(collection, tmp_path):
    target = tmp_path / "elsewhere"
    before = precious(target)
    (collection / "z.old").symlink_to(target)
    out = run(["--store", "DEMO", "--models-dir", "z", "sync"], collection)
    assert out.returncode == 2 and "z.old is not a previous models directory that kgenrich made (kgenrich did not create it: it is a symbolic link)" in out.stderr
    assert tree(target) == before
    (collection / "w.partial").write_text("not a directory\n")
    out = run(["--store", "DEMO", "--models-dir", "w", "train"], collection)
    assert out.returncode == 2 and "it is a file, not a directory" in out.stderr
    assert (collection / "w.partial").read_text() == "not a directory\n"


# ------------------------------------------------------------------ our own directories are replaced
def test_models_are_marked_replaced_and_older_unmarked_models_keep_working(collection):
    models = collection / "m"
    out = run(["--store", "DEMO", "--models-dir", "m", "train", "--quiet"], collection)
    assert out.returncode == 0, out.stderr
    assert owned.kind_of(models) == "models" and not (collection / "m.partial").exists()
    assert not list((models / "checkpoints").glob("*")) if (models / "checkpoints").exists() else True
    first = json.loads((models / "ensemble.json").read_text())["created"]

    # an empty folder left at .old and an interrupted run's .partial of ours are replaced
    (collection / "m.old").mkdir()
    owned.mark(collection / "m.partial", "models")
    (collection / "m.partial" / "junk.npz").write_text("x")
    out = run(["--store", "DEMO", "--models-dir", "m", "sync", "--retrain"], collection)
    assert out.returncode == 0, out.stderr
    assert not (collection / "m.old").exists() and not (collection / "m.partial").exists()
    assert owned.kind_of(models) == "models" and (models / "sync-training.json").is_file()

    # a models directory of an older kgenrich (no marker) is recognised by its layout, and replaced
    (models / owned.MARKER).unlink()
    assert legacy_models_layout(models)
    out = run(["--store", "DEMO", "--models-dir", "m", "sync", "--retrain"], collection)
    assert out.returncode == 0, out.stderr
    assert owned.kind_of(models) == "models" and json.loads((models / "ensemble.json").read_text())["created"] >= first

    # ... but not once a file of the user's sits in it
    (models / owned.MARKER).unlink()
    (models / "notes.txt").write_text("mine\n")
    assert not legacy_models_layout(models)
    out = run(["--store", "DEMO", "--models-dir", "m", "sync", "--retrain"], collection)
    assert out.returncode == 2 and "m is not a models directory" in out.stderr and "notes.txt" in out.stderr
    assert (models / "notes.txt").read_text() == "mine\n" and (models / "ensemble.json").is_file()
    # reading commands still use it (nothing is removed or renamed by them)
    assert run(["--store", "DEMO", "--models-dir", "m", "sync", "--json"], collection).returncode == 0


def test_legacy_layout_recognises_an_interrupted_run_of_an_older_version(tmp_path):
    partial = tmp_path / "models.partial"
    (partial / "progress" / "tabular").mkdir(parents=True)
    (partial / "checkpoints" / "image-fold1").mkdir(parents=True)
    (partial / "progress.json").write_text(json.dumps({"key": "abc"}))
    (partial / "tabular").mkdir()
    (partial / "tabular" / "model.json").write_text(json.dumps({"format_version": 1}))
    assert legacy_models_layout(partial)
    (partial / "progress.json").write_text(json.dumps({"no": "key"}))
    assert not legacy_models_layout(partial)
    assert not legacy_models_layout(tmp_path)  # an arbitrary folder


# ------------------------------------------------------------------ the marker itself
def test_owned_removes_only_marked_or_empty_directories(tmp_path):
    ours = owned.mark(tmp_path / "ours", "cache")
    (ours / "f").write_text("x")
    assert owned.remove(ours, ("cache",), "a cache", "advice") and not ours.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert owned.remove(empty, ("cache",), "a cache", "advice") and not empty.exists()
    other = owned.mark(tmp_path / "other", "models")
    (other / "f").write_text("x")
    with pytest.raises(owned.NotOurs, match="other is not a cache that kgenrich made"):
        owned.remove(other, ("cache",), "a cache", "advice")  # marked, but as something else
    assert (other / "f").is_file()
    assert not owned.remove_if_ours(other, ("cache",)) and (other / "f").is_file()
    (tmp_path / "forged").mkdir()
    (tmp_path / "forged" / owned.MARKER).symlink_to(other / owned.MARKER)
    assert owned.kind_of(tmp_path / "forged") is None
    assert not owned.remove(tmp_path / "absent", ("cache",), "a cache", "advice")


# ------------------------------------------------------------------ sync's spool directories
def test_drop_spools_removes_only_spool_directories(tmp_path):
    settings = load_settings(environ={}, cwd=tmp_path)
    settings.models_dir = str(tmp_path / "models")
    root = tmp_path / SPOOL_DIR
    mine = root / "my-folder"
    before = precious(mine)
    killed = owned.mark(root / "20250101T000000-0123abcd", "sync-spool")
    (killed / "reified.nt").write_text("")
    older = root / "20240101T000000-89abcdef-shard1"  # an older kgenrich's, without a marker
    older.mkdir()
    (older / "derived.nt").write_text("")
    named_like_a_run = root / "20240101T000000-00000000"  # a run's name, but a file that is not a spool file
    named_like_a_run.mkdir()
    (named_like_a_run / "thesis.tex").write_text("mine")
    assert drop_spools(settings) == 2
    assert not killed.exists() and not older.exists()
    assert tree(mine) == before and (named_like_a_run / "thesis.tex").read_text() == "mine"


# ------------------------------------------------------------------ the demo
def test_the_demo_refuses_a_users_models_or_data_folder_before_changing_anything(tmp_path):
    settings = load_settings(environ={}, cwd=tmp_path)
    settings.store = str(tmp_path / "work" / "store")
    settings.models_dir = str(tmp_path / "work" / "models")
    models = precious(tmp_path / "work" / "models")
    with pytest.raises(owned.NotOurs, match="models is not a models directory"):
        run_demo(settings, size=100, progress=False, echo=lambda *a: None)
    assert tree(tmp_path / "work" / "models") == models
    assert not (tmp_path / "work" / "store").exists() and not (tmp_path / "work" / "demo-data").exists()

    settings.models_dir = str(tmp_path / "work" / "fresh-models")
    data = precious(tmp_path / "work" / "demo-data")
    with pytest.raises(owned.NotOurs, match="demo-data is not a demo data directory"):
        run_demo(settings, size=100, progress=False, echo=lambda *a: None)
    assert tree(tmp_path / "work" / "demo-data") == data and not (tmp_path / "work" / "store").exists()

    # an older demo's store (its own marker) is still recognised as the demo's
    older = tmp_path / "older"
    older.mkdir()
    (older / ".kgenrich-demo-store").write_text("created by kgenrich demo\n")
    (older / "000001.sst").write_text("")
    from kgenrich.demo.run import _prepare_store_dir

    _prepare_store_dir(older)
    assert owned.kind_of(older) == "demo-store" and not (older / "000001.sst").exists()
