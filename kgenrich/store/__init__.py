"""Stores: embedded (pyoxigraph) and remote (SPARQL 1.1 + Graph Store Protocol)."""

from __future__ import annotations

from ..config import Settings
from .base import FORMATS, LoadReport, Row, Solutions, Store, Triple, guess_format

__all__ = ["FORMATS", "LoadReport", "Row", "Solutions", "Store", "Triple", "guess_format", "open_store"]


def open_store(settings: Settings, in_memory: bool = False, *, read_only: bool = False) -> Store:
    """The store the settings name: a remote endpoint, else the embedded store.

    ``read_only``: for commands that only read.  Every write is then refused
    before it is sent; the embedded store is opened without its write lock (so
    it can be read while another process writes, and from a read-only
    directory), and a store directory that does not exist is an error instead
    of a new empty store.
    """
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
            read_only=read_only,
        )
    from .embedded import EmbeddedStore

    return EmbeddedStore(None if in_memory else settings.store, read_only=read_only,
                         service_endpoints=settings.service_endpoints, query_timeout=settings.query_timeout)
