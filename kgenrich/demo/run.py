"""`kgenrich demo`: generate the demo collection, load it, run `sync`, summarise.

The demo works on the embedded store the global options name (default
.kgenrich/store), so that `kgenrich evaluate`, `query` and `sync` work on it
afterwards.  It refuses to touch a store, a data directory or a models directory
that holds anything it did not make itself (owned.py: a marker file in each), and
it never runs against a remote endpoint.
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF, XSD

from .. import owned
from ..config import Settings
from ..errors import KgenrichError
from ..namespaces import KGS
from ..resources import ONTOLOGY_DIR
from ..tasks import CONFIG_GRAPH, KGE
from .generator import _MARKER as IMAGES_MARKER  # the generator's marker of its images folder

DEMO_MARKER = ".kgenrich-demo-store"  # what a demo store carried before owned.py's marker: still recognised
STORE_KIND = "demo-store"
DATA_KIND = "demo-data"
FULL_MIN_SUPPORT_SIZE = 3000


def _legacy_demo_store(store_dir: Path) -> bool:
    return (store_dir / DEMO_MARKER).is_file()


def _legacy_demo_data(data_dir: Path) -> bool:
    """A data directory an older demo wrote: its RDF files and its marked images folder, nothing else."""
    for entry in data_dir.iterdir():
        if entry.is_symlink():
            return False
        if entry.is_file() and re.fullmatch(r"vocabulary\.trig|museum-[A-Za-z0-9_-]+\.trig", entry.name):
            continue
        if entry.is_dir() and entry.name == "images" and (entry / IMAGES_MARKER).is_file():
            continue
        return False
    return True


def _prepare_store_dir(store_dir: Path) -> None:
    """Empty the store directory, but only if it is new or a demo store we made."""
    owned.remove(store_dir, (STORE_KIND,), "a demo store", "give the demo a fresh directory with --store DIR",
                 _legacy_demo_store)
    owned.mark(store_dir, STORE_KIND)


def _check_data_dir(data_dir: Path) -> None:
    """The demo's files go beside the store: into a new directory or one an earlier demo wrote."""
    owned.check(data_dir, (DATA_KIND,), "a demo data directory",
                "give the demo a store directory whose parent has no other 'demo-data' (--store DIR)",
                _legacy_demo_data)


def demo_task_definitions(size: int) -> bytes:
    """The shipped SILKNOW tasks, with minimum supports scaled to a smaller demo.

    They go into the store's configuration graph: the same mechanism an
    ontology editor uses to change a task without touching files or code.
    """
    profile = Graph()
    profile.parse(ONTOLOGY_DIR / "profiles" / "silknow.ttl", format="turtle")
    graph = Graph()  # the tasks of the profile's file, not the profile itself
    for task in profile.subjects(RDF.type, URIRef(KGE + "PredictionTask")):
        for triple in profile.triples((task, None, None)):
            graph.add(triple)
    min_support = URIRef(KGE + "minSupport")
    for task, _, value in list(graph.triples((None, min_support, None))):
        assert isinstance(value, Literal), "kge:minSupport is a number"
        scaled = max(5, round(int(value) * min(1.0, size / FULL_MIN_SUPPORT_SIZE)))
        graph.set((task, min_support, Literal(scaled, datatype=XSD.integer)))
    return graph.serialize(format="nt", encoding="utf-8")


def demo_model_preset(models: dict) -> bytes:
    """The kgs:modelSettings triple of the configuration graph that records the demo's [models] table."""
    import json

    from .. import sparql

    value = Literal(json.dumps(models, sort_keys=True))
    return (sparql.ntriples_line(CONFIG_GRAPH, KGS.modelSettings, value) + "\n").encode("utf-8")


def run_demo(settings: Settings, size: int = 3000, seed: int = 0, progress: bool = True,
             echo=print) -> dict:
    from ..models.base import read_card
    from ..pipeline import with_model_settings
    from ..store.embedded import EmbeddedStore
    from ..sync import run_sync
    from ..training import ENSEMBLE_FILE, check_models_dir, demo_model_settings, remove_models_dir
    from .generator import generate

    if settings.is_remote:
        raise KgenrichError("the demo runs on an embedded store; drop --endpoint (or give --store DIR)")
    if size < 100:
        raise KgenrichError("--size must be at least 100 artifacts (the models need examples of every group)")
    started = time.perf_counter()
    assert settings.store is not None, "an embedded store: load_settings sets one when no endpoint is given"
    store_dir = Path(settings.store)
    data_dir = store_dir.parent / "demo-data"
    models_dir = Path(settings.models_dir)
    # every check before anything is changed: a refusal leaves all three as they were
    check_models_dir(models_dir)
    _check_data_dir(data_dir)
    owned.check(store_dir, (STORE_KIND,), "a demo store", "give the demo a fresh directory with --store DIR",
                _legacy_demo_store)
    _prepare_store_dir(store_dir)
    remove_models_dir(models_dir)  # models of an earlier demo would not match this collection
    owned.mark(data_dir, DATA_KIND)

    echo(f"generating {size} artifacts (seed {seed}) into {data_dir} ...")
    collection = generate(data_dir, size=size, seed=seed, progress=progress)
    store = EmbeddedStore(store_dir)
    try:
        for path in collection.rdf_files:
            store.load_file(path)
        store.load_bytes(demo_task_definitions(size), "ntriples", graph=CONFIG_GRAPH)
        # The demo's small models, recorded on the store: train, evaluate and sync --retrain on
        # this store use them too (the user's [models] table still wins, key by key).
        store.load_bytes(demo_model_preset(demo_model_settings()), "ntriples", graph=CONFIG_GRAPH)
        demo_settings = dataclasses.replace(settings, sections=dict(settings.sections))
        with_model_settings(demo_settings, demo_model_settings())
        echo("demo models (small, for a CPU): frozen EfficientNet-Lite0 image features at 80 px, frozen multilingual "
             "USE text embeddings, each with multitask heads; LightGBM tabular and fusion. Real collections default "
             "to ResNet-152 and XLM-RoBERTa.")
        report = run_sync(store, demo_settings, retrain=True, progress=progress)
    finally:
        store.close()

    # The card alone holds the scores: loading the models again would only cost seconds.
    evaluation = ensemble_evaluation(read_card(models_dir, ENSEMBLE_FILE))
    return {
        "artifacts": collection.n_artifacts,
        "museums": len(collection.museums),
        "images": collection.n_images,
        "broken_image_refs": collection.n_broken_image_refs,
        "store": str(store_dir),
        "data": str(data_dir),
        "models_dir": str(models_dir),
        "gaps": report.gaps,
        "predictions_written": report.predictions,
        "sync": report.to_dict(),
        "evaluation": evaluation,
        "seconds": round(time.perf_counter() - started, 1),
    }


def ensemble_evaluation(card: dict) -> dict:
    """The model card's held-out (out-of-fold) scores in the shape of `kgenrich evaluate --json`."""
    tasks: dict[str, dict] = {}
    for modality, per_task in card.get("scores", {}).items():
        for task, scores in per_task.items():
            tasks.setdefault(task, {})[modality] = scores
    return {"tasks": tasks, "method": card.get("score_method", "out-of-fold")}
