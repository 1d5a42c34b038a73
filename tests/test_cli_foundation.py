"""The command line as a user meets it: real processes, one-line errors, no tracebacks."""

import json
import os
import subprocess
import sys

import pytest
from helpers import MINI, MINI_TASKS

from kgenrich.config import load_settings
from kgenrich.errors import ConfigError
from kgenrich.resources import ONTOLOGY_DIR
from kgenrich.store.embedded import EmbeddedStore

KGENRICH = [sys.executable, "-m", "kgenrich"]


def run(args, cwd, env=None, check=None):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KGENRICH_")}
    environment.update(env or {})
    result = subprocess.run(KGENRICH + args, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    if check is not None:
        assert (result.returncode == 0) == check, result.stderr
    return result


@pytest.fixture
def workdir(tmp_path):
    # Tasks with support 1 for the mini collection, through kgenrich.toml.
    (tmp_path / "kgenrich.toml").write_text(
        f'ontology = ["{ONTOLOGY_DIR / "kgenrich.ttl"}", "{ONTOLOGY_DIR / "crm-core.ttl"}", "{MINI_TASKS}"]\n')
    return tmp_path


def test_load_labels_dataset_query(workdir):
    out = run(["load", str(MINI)], workdir, check=True)
    assert "loaded" in out.stdout and (workdir / ".kgenrich" / "store").is_dir()
    labels = json.loads(run(["labels", "--json"], workdir, check=True).stdout)
    material = next(t for t in labels["tasks"] if t["task"] == "material")
    assert material["property"] == "http://erlangen-crm.org/current/P126_employed"
    assert {g["id"]: g["support"] for g in material["groups"]} == {"animal_fibre": 3, "vegetal_fibre": 1}
    assert material["unmapped"] == 1
    assert set(material["groups"][0]) >= {"id", "label", "concept", "members", "support"}
    summary = json.loads(run(["dataset", "--json", "--out", "d.jsonl"], workdir, check=True).stdout)
    assert summary["artifacts"] == 6 and (workdir / "d.jsonl").is_file()
    tasks = json.loads(run(["tasks", "--json"], workdir, check=True).stdout)
    assert [t["name"] for t in tasks["tasks"]][:2] == ["material", "technique"]
    csv_out = run(["query", "--format", "csv", "SELECT ?o WHERE { GRAPH ?g { ?o a <http://erlangen-crm.org/current/E22_Man-Made_Object> } } ORDER BY ?o"], workdir, check=True)
    assert csv_out.stdout.splitlines()[0] == "o" and len(csv_out.stdout.splitlines()) == 7
    (workdir / "q.rq").write_text("ASK { ?s ?p ?o }")
    assert run(["query", "@q.rq"], workdir, check=True).stdout.strip() == "true"
    js = json.loads(run(["query", "--json", "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"], workdir, check=True).stdout)
    assert int(js["results"]["bindings"][0]["n"]["value"]) > 50


def test_malformed_file_error_names_file_and_line_and_loads_nothing(workdir):
    bad = workdir / "bad.ttl"
    bad.write_text('<http://x/a> <http://x/b> "c" .\n<http://x/a> <http://x/b> .\n')
    out = run(["load", "--graph", "http://x/g", str(bad)], workdir, check=False)
    assert out.returncode != 0
    assert "bad.ttl" in out.stderr and "line 2" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    count = run(["query", "--format", "csv", "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"], workdir, check=True)
    assert count.stdout.splitlines()[1] == "0"


@pytest.mark.parametrize("args, message", [
    (["load", "missing.ttl"], "no such file"),
    (["load", "data.xyz"], "unknown RDF format"),
    (["labels"], "holds no artifacts"),
    (["query", "SELEC nothing"], "not a SPARQL query"),
    (["query", "SELECT * WHERE { ?s ?p }"], "not a SPARQL query: line 1, column 18"),
    (["--store", "typo/dir", "query", "ASK {}"], "no store at typo/dir"),
    (["dataset", "--out", "x.csv"], "holds no artifacts"),
    (["--endpoint", "http://127.0.0.1:9/sparql", "labels"], "cannot reach http://127.0.0.1:9/sparql"),
    (["labels", "--task", "nope"], "unknown task(s): nope"),
])
def test_bad_input_gets_one_clear_line(workdir, args, message):
    (workdir / "data.xyz").write_text("x")
    EmbeddedStore(workdir / ".kgenrich" / "store").close()  # an empty store: reading commands need one
    env = {"KGENRICH_RETRIES": "1"}
    out = run(args, workdir, env=env, check=False)
    assert out.returncode != 0
    assert message in out.stderr
    assert out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_task_with_a_property_not_in_the_ontology(workdir):
    broken = workdir / "broken.ttl"
    broken.write_text("""@prefix kge: <https://w3id.org/kgenrich/ontology#> .
<https://example.org/t> a kge:PredictionTask ; kge:name "colour" ;
  kge:artifactClass <http://erlangen-crm.org/current/E22_Man-Made_Object> ;
  kge:property <http://erlangen-crm.org/current/P999_has_colour> ; kge:grouping kge:CountryGrouping .
""")
    toml = (workdir / "kgenrich.toml").read_text().replace('"]', f'", "{broken}"]')
    (workdir / "kgenrich.toml").write_text(toml)
    EmbeddedStore(workdir / ".kgenrich" / "store").close()
    out = run(["tasks"], workdir, check=False)
    assert out.returncode != 0 and "task 'colour'" in out.stderr and "P999_has_colour" in out.stderr


def test_settings_precedence(tmp_path):
    (tmp_path / "kgenrich.toml").write_text('store = "from-file"\npage_size = 10\n[models]\nfolds = 2\n')
    assert load_settings(environ={}, cwd=tmp_path).store == "from-file"
    env = {"KGENRICH_STORE": "from-env"}
    assert load_settings(environ=env, cwd=tmp_path).store == "from-env"
    assert load_settings(flags={"store": "from-flag"}, environ=env, cwd=tmp_path).store == "from-flag"
    remote = load_settings(environ={"KGENRICH_ENDPOINT": "http://127.0.0.1:1/q"}, cwd=tmp_path)
    assert remote.endpoint and remote.store is None and remote.is_remote
    flagged = load_settings(flags={"store": "s"}, environ={"KGENRICH_ENDPOINT": "http://127.0.0.1:1/q"}, cwd=tmp_path)
    assert flagged.store == "s" and flagged.endpoint is None
    settings = load_settings(environ={}, cwd=tmp_path)
    assert settings.page_size == 10 and settings.section("models") == {"folds": 2}
    assert load_settings(environ={}, cwd=tmp_path / "nowhere").store == ".kgenrich/store"
    (tmp_path / "bad.toml").write_text("colour = 1\n")
    with pytest.raises(ConfigError, match="unknown key 'colour'"):
        load_settings(str(tmp_path / "bad.toml"), environ={})
    with pytest.raises(ConfigError, match="not both"):
        load_settings(flags={"store": "a", "endpoint": "http://b"}, environ={})
