"""Registry of the models (modality models and stackers), by name.

Like Annif's ``annif/backend/__init__.py``: the registry maps a name to the
module and class that implement it, and imports the module only when the name
is asked for, so that ``import kgenrich.models`` stays cheap (no torch, no
transformers) and a model whose optional package is missing only fails when
someone configures it.  A new modality or backbone is one class plus one line
in ``_REGISTRY``.
"""

from __future__ import annotations

import importlib

from ..errors import ModelError

# name -> "module:Class" (module relative to this package)
_REGISTRY: dict[str, object] = {
    "image": "image:ImageModel",
    "text": "text:TextModel",
    "tabular": "tabular:TabularModel",
    "fusion": "fusion:FusionModel",
}


def names() -> list[str]:
    return sorted(_REGISTRY)


def get_model_class(name: str):
    try:
        target = _REGISTRY[name]
    except KeyError:
        raise ModelError(f"unknown model '{name}' (known: {', '.join(names())})") from None
    if not isinstance(target, str):  # a class registered directly
        return target
    module_name, class_name = target.split(":")
    # a bare name is a module of this package; a dotted one is imported as given (plugins)
    module = importlib.import_module(module_name if "." in module_name else f"{__name__}.{module_name}")
    return getattr(module, class_name)


def register(name: str, target) -> None:
    """Add a model at run time: ``register("clip", "mypkg.clip:ClipModel")`` or the class itself."""
    if isinstance(target, str) and ":" not in target:
        raise ValueError("target must be 'module:Class' or a class")
    _REGISTRY[name] = target


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def create(name: str, groups, params=None, settings=None):
    """A new, untrained model of the class registered under ``name``, which it keeps as its name."""
    model = get_model_class(name)(groups, params or {}, settings)
    model.name = name
    return model


__all__ = ["create", "get_model_class", "names", "register", "unregister"]
