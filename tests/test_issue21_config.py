"""Issue 21, item 6 (parts): writes into the wrong place.

- ``config apply`` refuses triples that are not configuration (a museum fact), in one line, writing nothing;
- a per-task table of ``[sync] min_confidence`` / ``min_precision`` naming no task is refused, naming
  the closest task.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers import MINI, MINI_TASKS, mini_settings

from kgenrich import config_graph
from kgenrich.errors import TaskDefinitionError
from kgenrich.resources import ONTOLOGY_DIR
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.tasks import configuration_triples

KGENRICH = [sys.executable, "-m", "kgenrich"]
PREFIXES = """@prefix kge: <https://w3id.org/kgenrich/ontology#> .
@prefix task: <https://w3id.org/kgenrich/task/> .
@prefix ecrm: <http://erlangen-crm.org/current/> .
@prefix voc: <http://data.silknow.org/vocabulary/> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix ex: <https://example.org/kgenrich/> .
"""


def cli(args, cwd, timeout=300):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGENRICH_")}
    result = subprocess.run(KGENRICH + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.fixture
def mini_dir(tmp_path):
    (tmp_path / "kgenrich.toml").write_text(
        f'ontology = ["{ONTOLOGY_DIR / "kgenrich.ttl"}", "{ONTOLOGY_DIR / "crm-core.ttl"}", "{MINI_TASKS}"]\n')
    store = EmbeddedStore(tmp_path / ".kgenrich" / "store")
    store.load_file(MINI)
    store.close()
    return tmp_path


# ------------------------------------------------------------------ config apply
def test_config_apply_refuses_a_museum_fact(mini_dir):
    (mini_dir / "fact.ttl").write_text(PREFIXES + """
task:place kge:minSupport 1 .
<http://data.silknow.org/production/1> ecrm:P126_employed voc:silk .
""")
    for dry in ([], ["--dry-run"]):
        out = cli(["config", "apply", *dry, "fact.ttl"], mini_dir)
        assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stderr
        assert out.stderr.startswith("error: fact.ttl: 1 triple not configuration, e.g. "
                                     "<http://data.silknow.org/production/1> "
                                     "<http://erlangen-crm.org/current/P126_employed> "
                                     "<http://data.silknow.org/vocabulary/silk>")
        assert "nothing was written" in out.stderr and "--graph IRI" in out.stderr
    shown = cli(["config", "show"], mini_dir)
    assert "is empty" in shown.stdout  # nothing reached the configuration graph


def test_what_configuration_holds_is_still_accepted():
    store = EmbeddedStore(None)
    store.load_file(MINI)
    settings = mini_settings()
    from rdflib import Graph

    text = PREFIXES + """
ecrm:E84_Information_Carrier a owl:Class ; <http://www.w3.org/2000/01/rdf-schema#label> "information carrier" .
ecrm:P999_made_up a owl:ObjectProperty ; <http://www.w3.org/2000/01/rdf-schema#subPropertyOf> ecrm:P126_employed .
ex:coarse a skos:Collection ; skos:prefLabel "coarse"@en ; skos:member ex:fine-a .
ex:fine-a skos:prefLabel "fine a"@en ; skos:member voc:210 .
task:place kge:minSupport 1 ; <http://www.w3.org/2000/01/rdf-schema#label> "place of production"@en .
"""
    triples = list(Graph().parse(data=text, format="turtle"))
    change = config_graph.apply(store, settings, triples, source="ok.ttl", dry_run=True)
    assert change.triples == len(triples)
    # one fact of the thesaurus among them is not configuration
    with pytest.raises(TaskDefinitionError, match="1 triple not configuration"):
        config_graph.apply(store, settings, triples + list(Graph().parse(
            data=PREFIXES + "voc:210 skos:broader voc:1 .", format="turtle")), source="ok.ttl", dry_run=True)
    assert configuration_triples(store) == []


# ------------------------------------------------------------------ per-task tables
@pytest.mark.parametrize("key, value", [("min_confidence", 0.5), ("min_precision", 0.9)])
def test_a_per_task_table_naming_no_task_is_refused(mini_dir, key, value):
    base = (mini_dir / "kgenrich.toml").read_text()
    (mini_dir / "kgenrich.toml").write_text(base + f"[sync]\n{key} = {{ nosuchtask = {value}, materail = {value} }}\n")
    for command in (["sync", "--dry-run", "--quiet"], ["train", "--quiet"]):
        out = cli(command, mini_dir)
        assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stderr
        assert out.stderr.startswith(f"error: {mini_dir / 'kgenrich.toml'}: [sync] {key} names no task 'nosuchtask'")
        assert "material" in out.stderr  # the tasks it could have meant
    (mini_dir / "kgenrich.toml").write_text(base + f"[sync]\n{key} = {{ materail = {value} }}\n")
    out = cli(["sync", "--dry-run", "--quiet"], mini_dir)
    assert out.returncode == 2 and "names no task 'materail' (did you mean 'material'?)" in out.stderr


# ------------------------------------------------------------------ a new task by an existing name
def test_a_new_task_iri_with_an_existing_name_is_refused_not_merged(mini_dir):
    """Issue 21.6: a file that declares a task of its own (a new IRI, typed kge:PredictionTask) with
    the name of an existing task is one clear error; describing a task by its name alone still
    overrides that task."""
    (mini_dir / "new.ttl").write_text(PREFIXES + """
ex:my-material a kge:PredictionTask ; kge:name "material" ; kge:minSupport 1 .
""")
    toml = (mini_dir / "kgenrich.toml").read_text()
    (mini_dir / "kgenrich.toml").write_text(toml.replace(f'"{MINI_TASKS}"]', f'"{MINI_TASKS}", "new.ttl"]'))
    out = cli(["tasks", "--no-groups"], mini_dir)
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stderr
    assert "task 'material': <https://example.org/kgenrich/my-material> (new.ttl) declares a new task with " \
           "the name of task:material" in out.stderr
    # by name alone (no IRI of its own): an override of that task, as before
    (mini_dir / "new.ttl").write_text(PREFIXES + '[] kge:name "material" ; kge:minSupport 1 .\n')
    out = cli(["tasks", "--json", "--no-groups"], mini_dir)
    assert out.returncode == 0, out.stderr
