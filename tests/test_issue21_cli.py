"""Issue 21, item 7 (parts): the small ones on the command line.

Click's usage errors are one ``error:`` line; Owlready2's cyclic-subclass warning is one ``warning:``
line; a reader that goes away (``| head``) ends the command quietly with 141; an empty query is not
called an update; an external entity in RDF/XML is refused as what it is.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers import MINI, MINI_TASKS

from kgenrich.querying import QueryError, query_form
from kgenrich.resources import ONTOLOGY_DIR
from kgenrich.store.embedded import EmbeddedStore

KGENRICH = [sys.executable, "-m", "kgenrich"]


def cli(args, cwd, **kwargs):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGENRICH_")}
    result = subprocess.run(KGENRICH + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, **kwargs)
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


@pytest.mark.parametrize("args, message", [
    (["nosuch"], "error: No such command 'nosuch'. (see 'kgenrich --help')"),
    (["--bogus", "tasks"], "error: No such option '--bogus'. (see 'kgenrich --help')"),
    (["query"], "error: Missing argument 'QUERY'. (see 'kgenrich query --help')"),
    (["query", "--format", "xml", "ASK {}"],
     "error: Invalid value for '--format': 'xml' is not one of 'table', 'json', 'csv'. (see 'kgenrich query --help')"),
])
def test_usage_errors_are_one_error_line(tmp_path, args, message):
    out = cli(args, tmp_path)
    assert out.returncode == 2 and out.stdout == "" and out.stderr == message + "\n"


def test_help_and_version_still_exit_0(tmp_path):
    assert cli(["--version"], tmp_path).returncode == 0
    out = cli(["query", "--help"], tmp_path)
    assert out.returncode == 0 and "Usage:" in out.stdout and out.stderr == ""


def test_a_reader_that_goes_away_ends_the_command_quietly(mini_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGENRICH_")}
    child = subprocess.Popen(KGENRICH + ["query", "--format", "csv",
                                         "SELECT ?s ?o ?c WHERE { GRAPH ?g { ?s ?p ?o } ?a ?b ?c }"],
                             cwd=mini_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout.readline() == b"s,o,c\n"
    child.stdout.close()  # `| head -1`
    err = child.stderr.read()
    assert child.wait(timeout=60) == 141 and err == b""


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment", "PREFIX ex: <http://example.org/>"])
def test_an_empty_query_is_no_update(mini_dir, text):
    with pytest.raises(QueryError, match="no query: the text is empty"):
        query_form(text)
    out = cli(["query", text], mini_dir)
    assert out.returncode == 2 and out.stderr.startswith("error: no query: the text is empty")
    with pytest.raises(QueryError, match="SPARQL update"):
        query_form("CLEAR ALL")


def test_an_external_entity_is_refused_as_such(tmp_path):
    (tmp_path / "secret.txt").write_text("secret\n")
    (tmp_path / "xxe.rdf").write_text(f"""<?xml version="1.0"?>
<!DOCTYPE rdf:RDF [ <!ENTITY xxe SYSTEM "file://{tmp_path / 'secret.txt'}"> ]>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:ex="http://example.org/">
  <rdf:Description rdf:about="http://example.org/a"><ex:p>&xxe;</ex:p></rdf:Description>
</rdf:RDF>
""")
    out = cli(["--store", "s", "load", "xxe.rdf"], tmp_path)
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1
    assert out.stderr.startswith("error: xxe.rdf: line 2, column ") and "external entity 'xxe'" in out.stderr
    assert "quotes" not in out.stderr and "secret\n" not in out.stdout + out.stderr
    # an internal entity is only text: read as before
    (tmp_path / "internal.rdf").write_text("""<?xml version="1.0"?>
<!DOCTYPE rdf:RDF [ <!ENTITY ex "http://example.org/"> ]>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:ex="http://example.org/">
  <rdf:Description rdf:about="&ex;a"><ex:p>1</ex:p></rdf:Description>
</rdf:RDF>
""")
    assert cli(["--store", "s", "load", "internal.rdf"], tmp_path).returncode == 0


def test_owlready2s_cyclic_subclass_warning_is_one_line(mini_dir):
    (mini_dir / "cycle.ttl").write_text("""@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix ecrm: <http://erlangen-crm.org/current/> .
<http://x/A> a owl:Class ; rdfs:subClassOf ecrm:E22_Man-Made_Object .
ecrm:E22_Man-Made_Object a owl:Class ; rdfs:subClassOf <http://x/A> .
""")
    assert cli(["load", "cycle.ttl", "--graph", "http://x/ontology"], mini_dir).returncode == 0
    out = cli(["tasks"], mini_dir)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ("warning: owlready2: ignoring cyclic subclass of/subproperty of, involving: "
                          "http://erlangen-crm.org/current/E22_Man-Made_Object http://x/A\n")
