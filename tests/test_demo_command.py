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
    assert evaluation, "no task was evaluated"
    for task, per in evaluation.items():
        assert {"tabular", "fusion"} <= set(per), (task, per)
        for modality, scores in per.items():
            assert 0.0 <= scores["macro_f1"] <= 1.0 and scores["support"] > 0

    # The store is the default one, so the other commands work on it afterwards.
    count = run(["query", "--format", "csv",
                 "SELECT (COUNT(*) AS ?n) WHERE { GRAPH <http://data.silknow.org/predictions> "
                 "{ ?s a <http://www.w3.org/1999/02/22-rdf-syntax-ns#Statement> } }"], tmp_path)
    assert int(count.stdout.splitlines()[1]) == summary["predictions_written"]
    second = run(["sync", "--json"], tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    report = json.loads(second.stdout)
    assert report["written"] == 0 and report["wrote"] is False and report["trained"] is False


def test_demo_refuses_a_store_it_did_not_make(tmp_path):
    store = tmp_path / "precious"
    store.mkdir()
    (store / "data").write_text("someone's store")
    out = run(["--store", str(store), "demo", "--size", "120"], tmp_path)
    assert out.returncode != 0 and "did not create" in out.stderr
    assert (store / "data").read_text() == "someone's store"
