"""A soak: 20 syncs in a row on a small demo collection, with random small edits between them, while
another process reads the same embedded store continuously.

The store is the embedded one, on disk: the syncs run in this process (one
writer, holding the store for the whole soak, as the review page does), the
reader is a separate process that opens the store read-only over and over
(kgenrich's reading commands do the same) and queries it as a SPARQL consumer
would.  Checked:

- every sync ends consistent: the live statements are those the report says,
  the provenance state names that many, every statement has its plain triple,
  an artifact that gained a value has no prediction for it, a deleted artifact
  has none at all, and no staging graph is left;
- the reader never fails and never sees a prediction graph that disagrees with
  the provenance graph beside it (a torn write);
- nothing grows without cause: the provenance keeps one fingerprint node per
  artifact that exists, and grows only by the record of each run that wrote.

Seeded; the fake ensemble of tests/servers.py stands in for the models.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import mini_settings
from rdflib import Literal, URIRef
from servers import FakeTrainer

from kgenrich import sparql
from kgenrich.demo.generator import generate
from kgenrich.demo.run import demo_task_definitions
from kgenrich.graphs import OwnGraphs
from kgenrich.namespaces import CONFIG_GRAPH
from kgenrich.resources import ONTOLOGY_DIR
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.sync import run_sync

pytestmark = pytest.mark.slow

SYNCS = 20
SEED = 7
ECRM = "http://erlangen-crm.org/current/"
KGS = "https://w3id.org/kgenrich/sync#"
RUN_RECORD_MAX = 40  # triples one run adds to the provenance history (run activity, counts, gaps)

READER = r"""
import json, sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from kgenrich.store.embedded import EmbeddedStore
from kgenrich import sparql
store_dir, stop, pred, prov, example = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
statements = ("SELECT (COUNT(DISTINCT ?st) AS ?n) WHERE {{ GRAPH <%s> {{ ?st a <%sStatement> }} }}") % (pred, RDF)
state = "SELECT ?n WHERE {{ GRAPH <%s> {{ <%s/state> <https://w3id.org/kgenrich/sync#statements> ?n }} }}" % (prov, prov)
torn = ("ASK {{ GRAPH <%s> {{ ?st <%ssubject> ?s ; <%spredicate> ?p ; <%sobject> ?o "
        "FILTER NOT EXISTS {{ ?s ?p ?o }} }} }}") % (pred, RDF, RDF, RDF)
summary = {{"reads": 0, "failures": [], "inconsistent": [], "opened_at": []}}
while not stop.exists():
    try:
        started = time.perf_counter()
        store = EmbeddedStore(store_dir, read_only=True)
        summary["opened_at"].append(round(time.perf_counter() - started, 3))
        n = int(store.select(statements)[0]["n"])
        said = store.select(state)
        if said and int(said[0]["n"]) != n:
            summary["inconsistent"].append(f"{{n}} statements live, provenance says {{said[0]['n']}}")
        if store.ask(torn):
            summary["inconsistent"].append("a statement without its plain triple")
        store.select(example)
        store.close()
        summary["reads"] += 1
    except Exception as exc:
        summary["failures"].append(f"{{type(exc).__name__}}: {{exc}}")
print(json.dumps(summary))
"""


def _artifacts(store) -> dict[str, str]:
    rows = store.select(f"SELECT ?a ?g WHERE {{ GRAPH ?g {{ ?a a <{ECRM}E22_Man-Made_Object> }} }}")
    return {str(r["a"]): str(r["g"]) for r in rows if "/demo-" in str(r["g"])}


def _edit(store, rng: random.Random, log: dict) -> str:
    """One random small edit, as a curator makes them: a value added, an artifact deleted, a text changed."""
    artifacts = _artifacts(store)
    kind = rng.choice(["value", "delete", "text"])
    if kind == "value":
        gaps = store.select(f"""SELECT ?a ?prod ?g WHERE {{ GRAPH ?g {{ ?prod <{ECRM}P108_has_produced> ?a .
            FILTER NOT EXISTS {{ ?prod <{ECRM}P126_employed> ?m }} }} }} ORDER BY ?a""")
        values = store.select(f"SELECT DISTINCT ?m WHERE {{ GRAPH ?g {{ ?p <{ECRM}P126_employed> ?m }} }} ORDER BY ?m")
        if gaps and values:
            row, value = rng.choice(gaps), rng.choice(values)["m"]
            store.update(sparql.bind("INSERT DATA { GRAPH $g { $prod $p $m } }",
                                     {"g": row["g"], "prod": row["prod"], "p": URIRef(ECRM + "P126_employed"),
                                      "m": value}))
            log["valued"].add(str(row["a"]))
            return f"value {row['a']}"
    if kind == "delete" and len(artifacts) > 60:
        artifact = rng.choice(sorted(artifacts))
        graph = URIRef(artifacts[artifact])
        # Its production and descriptions go with it, as when a record is withdrawn from a museum graph.
        store.update(sparql.bind(
            "DELETE WHERE { GRAPH $g { ?prod $produced $a . ?prod ?pp ?po } } ; "
            "DELETE WHERE { GRAPH $g { $a ?p ?o } } ; DELETE WHERE { GRAPH $g { ?s ?p $a } }",
            {"g": graph, "a": URIRef(artifact), "produced": URIRef(ECRM + "P108_has_produced")}))
        log["deleted"].add(artifact)
        log["valued"].discard(artifact)
        return f"delete {artifact}"
    notes = store.select(f"""SELECT ?a ?p ?text ?g WHERE {{ GRAPH ?g {{ ?a a <{ECRM}E22_Man-Made_Object> ;
        ?p ?text . FILTER (?p IN (<{ECRM}P3_has_note>, <http://www.w3.org/2000/01/rdf-schema#comment>)) }} }}
        ORDER BY ?a ?text""")
    row = rng.choice(notes)
    changed = Literal(str(row["text"]) + f" Restored in {rng.randrange(1900, 2020)}.", lang=row["text"].language)
    store.update(sparql.bind("DELETE DATA { GRAPH $g { $a $p $old } } ; INSERT DATA { GRAPH $g { $a $p $new } }",
                             {"g": row["g"], "a": row["a"], "p": row["p"], "old": row["text"], "new": changed}))
    return f"text {row['a']}"


def test_twenty_syncs_with_edits_while_a_reader_reads(tmp_path):
    collection = generate(tmp_path / "data", size=100, seed=SEED, progress=False)
    store_dir = tmp_path / "store"
    store = EmbeddedStore(store_dir)
    for path in collection.rdf_files:
        store.load_file(path)
    store.load_bytes(demo_task_definitions(100), "ntriples", graph=CONFIG_GRAPH)
    settings = mini_settings(models_dir=str(tmp_path / "models"))
    settings.ontology = [str(ONTOLOGY_DIR / "kgenrich.ttl"), str(ONTOLOGY_DIR / "crm-core.ttl")]
    settings.sections = {"sync": {"report_dir": str(tmp_path / "reports"), "validation_engine": "sparql"}}
    own = OwnGraphs.from_settings(settings)
    trainer = FakeTrainer()
    run_sync(store, settings, progress=False, trainer=trainer)

    stop = tmp_path / "stop-reading"
    example = (Path(sparql.query_path("examples/asserted_or_predicted"))).read_text(encoding="utf-8")
    reader = subprocess.Popen(
        [sys.executable, "-c", READER.format(root=str(Path(__file__).resolve().parent.parent)), str(store_dir),
         str(stop), str(own.predictions), str(own.provenance), example],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rng = random.Random(SEED)
    log = {"valued": set(), "deleted": set()}
    edits, sizes = [], []
    try:
        for number in range(SYNCS):
            edits += [_edit(store, rng, log) for _ in range(rng.randint(1, 3))]
            prov_before = len(list(store.graph_triples(own.provenance)))
            report = run_sync(store, settings, progress=False, trainer=trainer)
            where = f"sync {number} after {edits[-3:]}"
            live = store.select(sparql.bind(
                "SELECT (COUNT(DISTINCT ?st) AS ?n) WHERE { GRAPH $g { ?st a $statement } }",
                {"g": own.predictions, "statement": URIRef("http://www.w3.org/1999/02/22-rdf-syntax-ns#Statement")}))
            assert int(live[0]["n"]) == report.predictions, where
            prov = list(store.graph_triples(own.provenance))
            said = [int(o) for s, p, o in prov if str(p) == KGS + "statements" and str(s).endswith("/state")]
            assert said == [report.predictions], where
            used = {str(o) for s, p, o in store.graph_triples(own.predictions) if str(p).endswith("#used")}
            assert not used & log["deleted"], where
            predicted_material = {str(r["a"]) for r in store.select(sparql.bind(
                "SELECT ?a WHERE { GRAPH $g { ?st $predicate $material ; $subject ?prod } ?prod $produced ?a }",
                {"g": own.predictions, "predicate": URIRef("http://www.w3.org/1999/02/22-rdf-syntax-ns#predicate"),
                 "material": URIRef(ECRM + "P126_employed"),
                 "subject": URIRef("http://www.w3.org/1999/02/22-rdf-syntax-ns#subject"),
                 "produced": URIRef(ECRM + "P108_has_produced")}))}
            assert not predicted_material & log["valued"], where
            assert not [g for g in store.graph_names() if own.is_staging(g)], where
            # Bounded: one input fingerprint per artifact that exists; the history grows by one run's record.
            inputs = {str(s) for s, p, o in prov if str(s).startswith(f"{own.provenance}/input/")}
            assert len(inputs) == report.artifacts == len(_artifacts(store)), where
            assert 0 <= len(prov) - prov_before <= (RUN_RECORD_MAX if report.wrote else 0) + 2 * len(log["deleted"]) \
                + 2, where
            sizes.append((len(store), len(prov), report.predictions))
        # A sync with nothing new writes nothing and grows nothing.
        quiet = run_sync(store, settings, progress=False, trainer=trainer)
        assert not quiet.wrote and len(store) == sizes[-1][0]
    finally:
        stop.write_text("stop")
        out, err = reader.communicate(timeout=120)
        store.close()
    summary = json.loads(out.strip().splitlines()[-1]) if out.strip() else {"reads": 0, "failures": [err]}
    assert summary["failures"] == [], summary["failures"][:5]
    assert summary["inconsistent"] == [], summary["inconsistent"][:5]
    # The reader read throughout the soak, not once before or after it.
    assert summary["reads"] >= SYNCS, summary["reads"]
    print(f"soak: {SYNCS} syncs, {len(edits)} edits, {summary['reads']} reads, store quads {sizes[0][0]} -> "
          f"{sizes[-1][0]}, reader opening max {max(summary['opened_at'])} s")
