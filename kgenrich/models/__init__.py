"""Registry of the models (modality models and stackers), by name.

Like Annif's ``annif/backend/__init__.py``: the registry maps a name to the
module and class that implement it, and imports the module only when the name
is asked for, so that ``import kgenrich.models`` stays cheap (no torch, no
transformers) and a model whose optional package is missing only fails when
someone configures it.  A new modality or backbone is one class plus one line
in ``_REGISTRY``, or, from code, ``register(name, "pkg.mod:Class")``.

Other distributions add models without editing kgenrich, through entry points
in the group ``kgenrich.models``::

    [project.entry-points."kgenrich.models"]
    clip = "mypkg.clip:ClipModel"

Entry points are read only when a name is not built in (or registered), or when
``names()`` is asked, so an unrelated broken plugin cannot slow down or break a
run that does not use it.  A built-in or registered name wins over an entry
point of the same name.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ModelError
from ..plugins import entry_point_origin, entry_points_of, import_target
from ..threads import quiet_waiting

if TYPE_CHECKING:
    from ..config import Settings

# OpenMP threads that wait spin briefly, then sleep (threads.py): set before torch or LightGBM load,
# for code that uses the models without the command line (which sets it, and the thread count, itself)
quiet_waiting()

ENTRY_POINT_GROUP = "kgenrich.models"

# name -> "module:Class" (module relative to this package) or a class registered at run time
_REGISTRY: dict[str, object] = {
    "image": "image:ImageModel",
    "text": "text:TextModel",
    "words": "words:WordsModel",
    "tabular": "tabular:TabularModel",
    "fusion": "fusion:FusionModel",
}
BUILTIN = tuple(_REGISTRY)

# name -> EntryPoint; None until first needed
_entry_points: dict[str, importlib.metadata.EntryPoint] | None = None


def discovered(refresh: bool = False) -> dict[str, importlib.metadata.EntryPoint]:
    """The entry points of group ``kgenrich.models`` of the installed distributions, by name."""
    global _entry_points
    if _entry_points is None or refresh:
        _entry_points = entry_points_of(ENTRY_POINT_GROUP)
    return _entry_points


def names() -> list[str]:
    return sorted(set(_REGISTRY) | set(discovered()))


def _load_entry_point(name: str):
    ep = discovered().get(name)
    if ep is None:
        raise ModelError(f"unknown model '{name}' (known: {', '.join(names())})")
    where = entry_point_origin(ep)
    try:
        target = ep.load()
    except Exception as exc:  # anything a third-party module raises on import
        raise ModelError(f"model '{name}': {where} cannot be loaded ({type(exc).__name__}: {exc})") from None
    if not isinstance(target, type):
        raise ModelError(f"model '{name}': {where} is not a class")
    return target


def get_model_class(name: str):
    target = _REGISTRY.get(name)
    if target is None:
        return _load_entry_point(name)
    if not isinstance(target, str):  # a class registered directly
        return target
    return import_target(__name__, target)


def names_of(contract: type) -> list[str]:
    """The names whose model implements ``contract`` (``Stacker``, ``ModalityModel``): the choices of
    ``[models] stacker`` / ``modalities``.  Imports every model's module: for messages, not for runs."""
    found = []
    for name in names():
        try:
            klass = get_model_class(name)
        except ModelError:  # a broken plugin is no choice
            continue
        if isinstance(klass, type) and issubclass(klass, contract):
            found.append(name)
    return found


def register(name: str, target) -> None:
    """Add a model at run time: ``register("clip", "mypkg.clip:ClipModel")`` or the class itself."""
    if isinstance(target, str) and ":" not in target:
        raise ValueError("target must be 'module:Class' or a class")
    _REGISTRY[name] = target


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def create(name: str, groups: dict[str, list[str]], params: Mapping[str, Any] | None = None,
           settings: Settings | None = None) -> Any:
    """A new, untrained model of the class registered under ``name``, which it keeps as its name."""
    model = get_model_class(name)(groups, params or {}, settings)
    model.name = name
    return model


__all__ = ["ENTRY_POINT_GROUP", "create", "discovered", "get_model_class", "names", "names_of", "register",
           "unregister"]
