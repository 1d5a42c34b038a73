"""`kgenrich demo` end to end on a small collection: the README's main command."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def run(args, cwd, timeout=900):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGENRICH_")}
    result = subprocess.run([sys.executable, "-m", "kgenrich", *args], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result


def test_demo_runs_sync_and_leaves_a_usable_store(tmp_path):
    out = run(["demo", "--size", "240", "--seed", "3", "--json"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout)
    assert summary["artifacts"] == 240
    assert set(summary["gaps"]) == {"material", "technique", "place", "time", "depiction"}
    assert summary["predictions_written"] > 0
    assert summary["broken_image_refs"] > 0
    evaluation = summary["evaluation"]["tasks"]
    assert set(evaluation) == set(summary["gaps"]), "every task must be trained and scored"
    card = json.loads((tmp_path / ".kgenrich" / "models" / "ensemble.json").read_text())
    lead_over_chance = []
    for task, per in evaluation.items():
        assert {"image", "text", "tabular", "fusion"} <= set(per), (task, per)
        # macro-F1 of guessing uniformly among the task's groups is about 1/k; on 240 artifacts a
        # single task's score is noisy (a hundred labelled rows), so the fused model must beat
        # chance clearly on average over the tasks
        chance = 1.0 / len(card["groups"][task])
        lead_over_chance.append(per["fusion"]["macro_f1"] - chance)
    assert sum(lead_over_chance) / len(lead_over_chance) > 0.1, lead_over_chance

    # The store is the default one, so the other commands work on it afterwards.
    count = run(["query", "--format", "csv",
                 "SELECT (COUNT(*) AS ?n) WHERE { GRAPH <http://data.silknow.org/predictions> "
                 "{ ?s a <http://www.w3.org/1999/02/22-rdf-syntax-ns#Statement> } }"], tmp_path)
    assert int(count.stdout.splitlines()[1]) == summary["predictions_written"]
    second = run(["sync", "--json"], tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    report = json.loads(second.stdout)
    assert report["written"] == 0 and report["wrote"] is False and report["trained"] is False
    # The store keeps the demo's models: retraining on it takes the small models (seconds to
    # minutes), never the ResNet-152 of real collections (hours on a CPU).
    retrain = run(["sync", "--retrain", "--dry-run", "--json"], tmp_path, timeout=300)
    assert retrain.returncode == 0, retrain.stderr[-3000:]
    assert json.loads(retrain.stdout)["trained"] is True


def test_demo_refuses_a_store_it_did_not_make(tmp_path):
    store = tmp_path / "precious"
    store.mkdir()
    (store / "data").write_text("someone's store")
    out = run(["--store", str(store), "demo", "--size", "120"], tmp_path)
    assert out.returncode != 0 and "did not create" in out.stderr
    assert (store / "data").read_text() == "someone's store"
