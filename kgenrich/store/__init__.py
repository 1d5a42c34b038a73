"""Stores, by name: embedded (pyoxigraph) and remote (SPARQL 1.1 + Graph Store Protocol), and plugins.

Like the models' registry (``kgenrich/models/__init__.py``) and rdflib's store
plugins: a name maps to the module and class of a :class:`Store`, imported only
when the name is asked for.  Each store class builds itself from the settings
(:meth:`Store.from_settings`); :func:`open_store` only picks the class, by
``settings.store_kind`` ("auto": the remote store when an endpoint is set, else
the embedded one).

Other distributions add stores without editing kgenrich, through entry points
in the group ``kgenrich.stores``::

    [project.entry-points."kgenrich.stores"]
    mystore = "mypkg.store:MyStore"

and ``store_kind = "mystore"`` in the settings.  Entry points are read only for
a name that is not built in (or registered), or when :func:`names` is asked; a
built-in or registered name wins over an entry point of the same name.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import TYPE_CHECKING

from ..config import Settings, closest
from ..errors import ConfigError
from ..plugins import entry_point_origin, entry_points_of, import_target
from .base import FORMATS, LoadReport, Row, Solutions, Store, Triple, guess_format

if TYPE_CHECKING:
    from .embedded import EmbeddedStore

ENTRY_POINT_GROUP = "kgenrich.stores"
AUTO = "auto"

# name -> "module:Class" (module relative to this package; dotted: imported as given) or a registered class
_REGISTRY: dict[str, str | type[Store]] = {
    "embedded": "embedded:EmbeddedStore",
    "remote": "remote:RemoteStore",
}
BUILTIN = tuple(_REGISTRY)

# name -> EntryPoint; None until first needed
_entry_points: dict[str, importlib.metadata.EntryPoint] | None = None


def discovered(refresh: bool = False) -> dict[str, importlib.metadata.EntryPoint]:
    """The entry points of group ``kgenrich.stores`` of the installed distributions, by name."""
    global _entry_points
    if _entry_points is None or refresh:
        _entry_points = entry_points_of(ENTRY_POINT_GROUP)
    return _entry_points


def names() -> list[str]:
    """Every store name: built in, registered, and from entry points."""
    return sorted(set(_REGISTRY) | set(discovered()))


def _checked_class(name: str, target: object, where: str) -> type[Store]:
    if not (isinstance(target, type) and issubclass(target, Store)):
        raise ConfigError(f"store '{name}': {where} is not a Store class")
    return target


def _load_entry_point(name: str) -> type[Store]:
    ep = discovered().get(name)
    if ep is None:
        raise ConfigError(f"store_kind '{name}': no such store (known: {', '.join([AUTO, *names()])})"
                          f"{closest(name, [AUTO, *names()])}")
    where = entry_point_origin(ep)
    try:
        target = ep.load()
    except Exception as exc:  # anything a third-party module raises on import
        raise ConfigError(f"store '{name}': {where} cannot be loaded ({type(exc).__name__}: {exc})") from None
    return _checked_class(name, target, where)


def get_store_class(name: str) -> type[Store]:
    """The Store class registered under ``name`` (ConfigError naming the known ones when there is none)."""
    target = _REGISTRY.get(name)
    if target is None:
        return _load_entry_point(name)
    if not isinstance(target, str):  # a class registered directly
        return target
    return _checked_class(name, import_target(__name__, target), f"'{target}'")


def register(name: str, target: str | type[Store]) -> None:
    """Add a store at run time: ``register("mystore", "mypkg.store:MyStore")`` or the class itself."""
    if isinstance(target, str) and ":" not in target:
        raise ValueError("target must be 'module:Class' or a Store class")
    if name == AUTO:
        raise ValueError(f"'{AUTO}' is not a store's name: it picks one from the settings")
    _REGISTRY[name] = target


def unregister(name: str) -> None:
    if name not in BUILTIN:
        _REGISTRY.pop(name, None)


def store_kind(settings: Settings) -> str:
    """The name of the store the settings ask for: ``store_kind``, with "auto" read as remote when an
    endpoint is set and embedded otherwise."""
    if settings.store_kind == AUTO:
        return "remote" if settings.endpoint else "embedded"
    return settings.store_kind


def open_store(settings: Settings, in_memory: bool = False, *, read_only: bool = False) -> Store:
    """The store the settings name (``store_kind``), built by its class from the settings.

    ``read_only``: for commands that only read.  Every write is then refused
    before it is sent; the embedded store is opened without its write lock (so
    it can be read while another process writes, and from a read-only
    directory), and a store directory that does not exist is an error instead
    of a new empty store.  ``in_memory``: the embedded store keeps nothing on disk.
    """
    return get_store_class(store_kind(settings)).from_settings(settings, read_only=read_only, in_memory=in_memory)


def scratch_store() -> EmbeddedStore:
    """A new, empty in-memory store of the process's own: to parse files with the project's parsers and query
    them (task definitions, profiles, a configuration file, predictions checked before they are written)."""
    from .embedded import EmbeddedStore

    return EmbeddedStore(None)


__all__ = ["BUILTIN", "ENTRY_POINT_GROUP", "FORMATS", "LoadReport", "Row", "Solutions", "Store", "Triple",
           "discovered", "get_store_class", "guess_format", "names", "open_store", "register", "scratch_store",
           "store_kind", "unregister"]
