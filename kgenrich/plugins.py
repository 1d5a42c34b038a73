"""What the registries by name (models/__init__.py, store/__init__.py) share: entry points of a group,
and a "module:Class" target imported only when its name is asked for."""

from __future__ import annotations

import importlib
import importlib.metadata


def entry_points_of(group: str) -> dict[str, importlib.metadata.EntryPoint]:
    """The entry points of ``group`` of the installed distributions, by name (the first on sys.path wins,
    as for imports)."""
    found: dict[str, importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=group):
        found.setdefault(ep.name, ep)
    return found


def import_target(package: str, target: str) -> object:
    """The object ``target`` ("module:Class") names: a bare module is one of ``package``, a dotted one is
    imported as given (plugins)."""
    module_name, class_name = target.split(":")
    module = importlib.import_module(module_name if "." in module_name else f"{package}.{module_name}")
    return getattr(module, class_name)


def entry_point_origin(ep: importlib.metadata.EntryPoint) -> str:
    """An entry point in words, for messages: its name, value and distribution."""
    dist = ep.dist.name if ep.dist is not None else "an unknown distribution"
    return f"entry point '{ep.name} = {ep.value}' of the distribution '{dist}'"
