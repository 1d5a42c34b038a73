"""Which named graphs are kgenrich's own, in one place.

kgenrich writes into a few graphs of its own -- the live predictions, the
sync provenance, staging graphs of a run in progress -- and reads its
configuration from one more.  None of them is ever read as museum data
(predicted values must never train the next model), and sync never writes
anywhere else.  Every stage asks this module instead of repeating the rule.

The review page (kgenrich/review/) writes two more: the review graph (one
prov:Activity per curator decision) and the curated graph (the accepted and
corrected values).  Neither is a museum graph either, but the curated graph is
read as data: the pipeline merges its values into the records
(dataset.merge_curated), so that a curated value closes its gap and becomes a
training label.  Sync never drops or rewrites either of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rdflib import URIRef

from .config import Settings
from .errors import ConfigError
from .namespaces import CONFIG_GRAPH
from .sparql import iri_is_valid


def _absolute(iri: str, what: str) -> URIRef:
    if not isinstance(iri, str) or not iri_is_valid(iri) or ":" not in iri:
        raise ConfigError(f"{what} is not an absolute IRI: {iri!r}")
    return URIRef(iri)


@dataclass(frozen=True)
class OwnGraphs:
    """kgenrich's graphs for one configuration."""

    predictions: URIRef  # the live prediction graph ADASilk reads
    provenance: URIRef  # sync runs, model cards, input fingerprints
    reviews: URIRef  # curators' decisions (default {predictions}/reviews)
    curated: URIRef  # accepted and corrected values (default {predictions}/curated)
    config: URIRef = CONFIG_GRAPH  # task definitions written by editors (read by tasks.py only)
    extra: tuple[URIRef, ...] = field(default=())  # further graphs of ours, never read as data

    @classmethod
    def from_settings(cls, settings: Settings) -> OwnGraphs:
        predictions = _absolute(settings.predictions_graph, "predictions_graph")
        provenance = _absolute(settings.sync.provenance_graph or _under(predictions, "provenance"),
                               "[sync] provenance_graph")
        if provenance == predictions:
            raise ConfigError("the provenance graph must differ from the prediction graph")
        review = settings.review
        reviews = _absolute(review.reviews_graph or _under(predictions, "reviews"), "[review] reviews_graph")
        curated = _absolute(review.curated_graph or _under(predictions, "curated"), "[review] curated_graph")
        named = {"the prediction graph": predictions, "the provenance graph": provenance, "the configuration graph":
                 CONFIG_GRAPH, "the reviews graph": reviews}
        for what, graph in named.items():
            if curated == graph:
                raise ConfigError(f"[review] curated_graph must differ from {what} ({graph})")
        for what, graph in list(named.items())[:3]:
            if reviews == graph:
                raise ConfigError(f"[review] reviews_graph must differ from {what} ({graph})")
        if str(reviews).startswith(_under(predictions, "staging") + "/") or \
                str(curated).startswith(_under(predictions, "staging") + "/"):
            raise ConfigError("the reviews and curated graphs must not sit below the staging graphs")
        return cls(predictions, provenance, reviews=reviews, curated=curated)

    @property
    def staging_prefix(self) -> str:
        """Every staging graph's IRI starts with this (a run's graphs sit below it)."""
        return _under(self.predictions, "staging") + "/"

    def staging(self, run: str) -> tuple[URIRef, URIRef]:
        """The staging graphs of one sync run: (predictions, provenance)."""
        return URIRef(f"{self.staging_prefix}{run}/predictions"), URIRef(f"{self.staging_prefix}{run}/provenance")

    @property
    def load_staging_prefix(self) -> str:
        """Where a remote load stages a file before moving it in whole (below the prediction graph,
        so never read as data; dropped by the load that wrote it)."""
        return _under(self.predictions, "load") + "/"

    def is_staging(self, graph: str) -> bool:
        return str(graph).startswith(self.staging_prefix)

    def is_ours(self, graph: str) -> bool:
        """True for a graph that holds kgenrich's output or configuration, never a museum graph:
        the predictions graph and every graph below it (provenance, staging, reviews, curated ...
        by default), the provenance, reviews and curated graphs wherever they are configured,
        and the configuration graph.  (The curated graph's values are still read, by
        dataset.merge_curated: as known values of their artifacts, not as artifacts of a museum.)"""
        g = str(graph)
        below = _under(self.predictions, "")
        return (g in (str(self.predictions), str(self.provenance), str(self.config), str(self.reviews),
                      str(self.curated))
                or g in map(str, self.extra) or g.startswith(below))


def _under(graph: URIRef, name: str) -> str:
    return str(graph).rstrip("/#") + "/" + name
