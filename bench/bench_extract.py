"""Load the SILKNOW data and extract the dataset: embedded Oxigraph vs rdflib's in-memory store.

    .venv/bin/python bench/bench_extract.py [--shared ../shared/data/silknow] [--rdflib-pages N]

Prints seconds for loading, label groups and dataset extraction on both
stores (pipeline.load_inputs, the front half every command runs: records with
their texts, images and curated values, label groups, broader concepts), and
the speed-up.  rdflib runs the very same queries/*.rq through an
adapter implementing kgenrich's Store interface (union default graph, as the
embedded store).  --rdflib-pages N extracts only N pages on rdflib and
scales its time to all artifacts (said so in the output).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rdflib import Dataset, URIRef

from kgenrich.config import load_settings
from kgenrich.dataset import artifact_classes, museum_graphs
from kgenrich.pipeline import load_inputs
from kgenrich.store.base import Store, guess_format, read_rdf_bytes
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.tasks import load_tasks

ROOT = Path(__file__).resolve().parent.parent
FILES = [
    "vocabularies/silknow-thesaurus.ttl",
    "vocabularies/aat-centuries.ttl",
    "vocabularies/silknow-dates-extension.ttl",
    "vocabularies/geonames-subset.ttl",
    "kg/silknow-train.trig.gz",
    "kg/silknow-dev.trig.gz",
]
_RDFLIB = {"turtle": "turtle", "trig": "trig", "ntriples": "nt", "nquads": "nquads", "rdfxml": "xml"}


class RdflibStore(Store):
    """Read-only adapter: rdflib's in-memory Dataset behind kgenrich's Store interface."""

    description = "rdflib in-memory Dataset"

    def __init__(self):
        self.dataset = Dataset(default_union=True)

    def load_bytes(self, data, fmt, graph=None, base=None):
        before = len(self.dataset)
        if fmt in ("trig", "nquads"):
            self.dataset.parse(data=data, format=_RDFLIB[fmt], publicID=base)
        else:
            target = self.dataset.graph(URIRef(graph)) if graph else self.dataset.default_graph
            target.parse(data=data, format=_RDFLIB[fmt], publicID=base)
        return len(self.dataset) - before

    def select(self, query):
        result = self.dataset.query(query)
        names = [str(v) for v in result.vars]
        return [{n: row[i] for i, n in enumerate(names) if row[i] is not None} for row in result]

    def ask(self, query):
        return bool(self.dataset.query(query).askAnswer)

    def construct(self, query):
        return list(self.dataset.query(query))

    def update(self, update):
        raise NotImplementedError

    def replace_graph(self, graph, triples):
        raise NotImplementedError

    def drop_graph(self, graph):
        raise NotImplementedError

    def graph_names(self):
        return [c.identifier for c in self.dataset.contexts()]

    def graph_triples(self, graph):
        return iter(self.dataset.graph(graph))


class _Enough(Exception):
    """The pages asked for are read (--rdflib-pages): the rest is extrapolated."""


def measure(store: Store, shared: Path, settings, max_pages: int | None):
    timings = {}
    t0 = time.perf_counter()
    quads = 0
    for name in FILES:
        path = shared / name
        quads += store.load_bytes(read_rdf_bytes(path), guess_format(path), base=path.resolve().as_uri())
    timings["load"] = time.perf_counter() - t0

    total = sum(n for _, n in museum_graphs(store, artifact_classes(store, load_tasks(store, settings))))
    t0 = time.perf_counter()
    if max_pages:
        # The front half every command runs, stopped after the pages asked for (label groups not counted).
        seen = []

        def keep(record):
            seen.append(record)
            if len(seen) >= max_pages * settings.page_size:
                raise _Enough
            return record

        try:
            records = load_inputs(store, settings, progress=False, keep=keep).records
        except _Enough:
            records = seen
    else:
        records = load_inputs(store, settings, progress=False).records  # what `kgenrich dataset` reads
    elapsed = time.perf_counter() - t0
    timings["extract"] = elapsed * (total / len(records))
    timings["extrapolated"] = len(records) < total
    timings["records"] = len(records)
    timings["artifacts"] = total
    timings["quads"] = quads
    return timings


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data" / "silknow")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--rdflib-pages", type=int, default=0, help="pages extracted on rdflib (0 = all, about 30 s)")
    args = parser.parse_args()
    if not (args.shared / FILES[-1]).is_file():
        sys.exit(f"SILKNOW data not found under {args.shared} (give --shared)")
    settings = load_settings(environ={})
    settings.page_size = args.page_size

    oxi = measure(EmbeddedStore(None), args.shared, settings, None)
    rdf = measure(RdflibStore(), args.shared, settings, args.rdflib_pages or None)

    print(f"SILKNOW vocabularies + train + dev: {oxi['quads']:,} quads, {oxi['artifacts']:,} artifacts, "
          f"5 tasks, page size {args.page_size}")
    print()
    print("| step                        | embedded (pyoxigraph) | rdflib in-memory | rdflib / embedded |")
    print("|-----------------------------|----------------------:|-----------------:|------------------:|")
    for step, label in (("load", "load"), ("extract", "dataset + label groups")):
        note = " (extrapolated)" if step == "extract" and rdf["extrapolated"] else ""
        print(f"| {label:<27} | {oxi[step]:>19.2f} s | {rdf[step]:>14.2f} s | {rdf[step] / oxi[step]:>16.1f}x |{note}")
    if rdf["extrapolated"]:
        print(f"\nrdflib extracted {rdf['records']:,} of {rdf['artifacts']:,} artifacts; its time is scaled to all of them.")


if __name__ == "__main__":
    main()
