"""Which named graphs are kgenrich's own, in one place.

kgenrich writes into a few graphs of its own -- the live predictions, the
sync provenance, staging graphs of a run in progress -- and reads its
configuration from one more.  None of them is ever read as museum data
(predicted values must never train the next model), and sync never writes
anywhere else.  Every stage asks this module instead of repeating the rule.
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
    config: URIRef = CONFIG_GRAPH  # task definitions written by editors (read by tasks.py only)
    extra: tuple[URIRef, ...] = field(default=())  # further graphs of ours, never read as data

    @classmethod
    def from_settings(cls, settings: Settings) -> "OwnGraphs":
        predictions = _absolute(settings.predictions_graph, "predictions_graph")
        section = settings.section("sync")
        provenance = _absolute(section.get("provenance_graph") or _under(predictions, "provenance"),
                               "[sync] provenance_graph")
        if provenance == predictions:
            raise ConfigError("the provenance graph must differ from the prediction graph")
        return cls(predictions, provenance)

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
        """True for a graph that holds kgenrich's output or configuration, never museum data:
        the predictions graph and every graph below it (provenance, staging, ... by default),
        the provenance graph wherever it is configured, and the configuration graph."""
        g = str(graph)
        below = _under(self.predictions, "")
        return (g in (str(self.predictions), str(self.provenance), str(self.config))
                or g in map(str, self.extra) or g.startswith(below))


def _under(graph: URIRef, name: str) -> str:
    return str(graph).rstrip("/#") + "/" + name
