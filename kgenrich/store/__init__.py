"""Stores: embedded (pyoxigraph) and remote (SPARQL 1.1 + Graph Store Protocol)."""

from __future__ import annotations

from ..config import Settings
from .base import FORMATS, LoadReport, Row, Store, Triple, guess_format

__all__ = ["FORMATS", "LoadReport", "Row", "Store", "Triple", "guess_format", "open_store"]


def open_store(settings: Settings, in_memory: bool = False) -> Store:
    """The store the settings name: a remote endpoint, else the embedded store."""
    if settings.endpoint:
        from .remote import RemoteStore

        return RemoteStore(
            settings.endpoint,
            update_endpoint=settings.update_endpoint,
            gsp_endpoint=settings.gsp_endpoint,
            credentials=settings.credentials,
            timeout=settings.timeout,
            retries=settings.retries,
            batch_triples=settings.batch_triples,
            batch_bytes=settings.batch_bytes,
            result_limit=settings.result_limit,
        )
    from .embedded import EmbeddedStore

    return EmbeddedStore(None if in_memory else settings.store)
