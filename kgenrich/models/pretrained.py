"""Where pretrained weights come from: torchvision names, Hugging Face ids, local files.

Users know weights by the names their libraries give them: ``IMAGENET1K_V2``
for a torchvision ResNet, ``FacebookAI/xlm-roberta-base`` on the Hugging Face
hub.  Both libraries keep a download cache, and kgenrich reads through their
own mechanisms:

- torchvision: ``<weights enum>.get_state_dict()`` downloads once into
  ``$TORCH_HOME/hub/checkpoints/<file name of the URL>``; a file already there
  is read without any network;
- transformers: ``from_pretrained(model_id, cache_dir=...)`` with the hub
  cache (``HF_HUB_CACHE``, else ``HF_HOME/hub``, else ``~/.cache/huggingface/hub``),
  in the hub's layout ``models--ORG--NAME/snapshots/<revision>/``.

Offline (``KGENRICH_OFFLINE``, ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``
set to 1) nothing is downloaded, and weights that are not cached are one
``ModelError`` that names the file or the cache directory to fill.  The
environment is read at each call, not at import, so a cache set for one run
(or one test) is honoured.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlparse

from ..errors import ModelError

log = logging.getLogger("kgenrich")

OFFLINE_VARIABLES = ("KGENRICH_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
TRUE = ("1", "true", "yes", "on")
PROBE_SECONDS = 3.0  # a host that does not answer this fast is treated as offline
DOWNLOAD_SOCKET_TIMEOUT = 60.0  # a stalled download fails instead of hanging the run


def offline() -> bool:
    """Whether downloads are switched off by the environment."""
    return any(os.environ.get(v, "").strip().lower() in TRUE for v in OFFLINE_VARIABLES)


def offline_reason() -> str:
    names = [v for v in OFFLINE_VARIABLES if os.environ.get(v, "").strip().lower() in TRUE]
    return f"{names[0]} is set" if names else "offline"


def reachable(url: str, timeout: float = PROBE_SECONDS) -> bool:
    """A quick TCP probe of the URL's host, so that an unplugged machine fails in seconds, not minutes."""
    parts = urlparse(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _download_guard():
    """Downloads print to stdout (torch.hub does): keep stdout clean for --json; bound stalls."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_SOCKET_TIMEOUT)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        socket.setdefaulttimeout(old)


# ------------------------------------------------------------------ torchvision
def read_state_dict(path: str) -> dict:
    """A state dict from a local .pth / .safetensors file (``module.`` prefixes of DDP stripped)."""
    import torch

    p = Path(path).expanduser()
    if not p.is_file():
        raise ModelError(f"image weights file not found: {p}")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(p))
        else:
            sd = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file
        raise ModelError(f"{p}: not a readable state dict ({exc})") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}


def torchvision_weights(backbone: str, name: str):
    """The torchvision weights enum of ``backbone`` called ``name`` (``IMAGENET1K_V2``, ``DEFAULT``,
    or the full ``ResNet152_Weights.IMAGENET1K_V2``)."""
    import torchvision

    try:
        enum = torchvision.models.get_model_weights(backbone)
    except (ValueError, KeyError):
        raise ModelError(f"image backbone '{backbone}' has no torchvision weights; give a weights file or 'none'") from None
    short = name.split(".", 1)[1] if name.startswith(enum.__name__ + ".") else name
    if "." in short:
        raise ModelError(f"image.weights '{name}' are not weights of {backbone} (those are {enum.__name__}.*)")
    try:
        return enum[short]
    except KeyError:
        known = ", ".join(["DEFAULT"] + [w.name for w in enum])
        raise ModelError(f"image.weights '{name}' unknown for {backbone} (known: {known})") from None


def hub_checkpoint(weights) -> Path:
    """Where torch hub keeps (or will keep) the file of a torchvision weights enum."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)


def torchvision_state_dict(backbone: str, name: str, progress: bool = False) -> tuple[dict, str]:
    """(state dict, where it came from) for named torchvision weights: the torch hub cache, else a
    download into it (unless offline); a clear ModelError naming the file to fill otherwise."""
    weights = torchvision_weights(backbone, name)
    path = hub_checkpoint(weights)
    label = f"{type(weights).__name__}.{weights.name}"
    if not path.is_file():
        if offline():
            raise ModelError(f"image weights {label} are not in the torch hub cache and {offline_reason()}: "
                             f"put {path.name} (from {weights.url}) into {path.parent}")
        log.info("downloading %s into %s", label, path.parent)
        try:
            with _download_guard():
                weights.get_state_dict(progress=progress, check_hash=True)
        except Exception as exc:  # URLError, a hash mismatch, a full disk: all say what to do by hand
            raise ModelError(f"image weights {label} could not be downloaded ({type(exc).__name__}: {exc}); "
                             f"put {path.name} (from {weights.url}) into {path.parent}") from None
    return read_state_dict(str(path)), f"{label} (torch hub cache {path})"


def fetch_torchvision(backbone: str, name: str, progress: bool = False) -> str | None:
    """Make named weights available in the cache if possible; None when they are, else why not."""
    weights = torchvision_weights(backbone, name)
    path = hub_checkpoint(weights)
    if path.is_file():
        return None
    if offline():
        return f"{path.name} is not in {path.parent} and {offline_reason()}"
    if not reachable(weights.url):
        return f"{path.name} is not in {path.parent} and {urlparse(weights.url).hostname} cannot be reached"
    try:
        torchvision_state_dict(backbone, name, progress)
    except ModelError as exc:
        return str(exc)
    return None


# ------------------------------------------------------------------ Hugging Face
HF_ENDPOINT = "https://huggingface.co"


def hf_cache_dir() -> Path:
    """The hub cache as huggingface_hub computes it, from the environment of now."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def hf_repo_dir(model_id: str) -> Path:
    return hf_cache_dir() / ("models--" + model_id.replace("/", "--"))


def local_checkpoint(model_id: str) -> Path | None:
    """``model_id`` as a local directory holding a transformers checkpoint, or None."""
    path = Path(model_id).expanduser()
    return path if path.is_dir() else None


def hf_cached(model_id: str) -> bool:
    """Whether the hub cache holds a snapshot of ``model_id`` with its config (what from_pretrained reads first)."""
    repo = hf_repo_dir(model_id)
    ref = repo / "refs" / "main"
    if not ref.is_file():
        return False
    return (repo / "snapshots" / ref.read_text().strip() / "config.json").is_file()


def checkpoint_available(model_id: str | None) -> bool:
    """A local checkpoint directory, or a Hugging Face id already in the cache (no network)."""
    if not model_id:
        return False
    return local_checkpoint(model_id) is not None or hf_cached(model_id)


def looks_like_path(model_id: str) -> bool:
    """A hub id is NAME or ORG/NAME; anything else given is meant as a directory."""
    return model_id.startswith(("/", ".", "~")) or model_id.count("/") > 1 or "\\" in model_id


def hf_from_pretrained(loader, model_id: str, **kwargs):
    """``loader.from_pretrained(model_id)`` for a local directory or a hub id through its cache;
    offline and not cached: a ModelError naming the cache directory to fill."""
    local = local_checkpoint(model_id)
    if local is not None:
        return loader.from_pretrained(str(local), local_files_only=True, **kwargs)
    if looks_like_path(model_id):
        raise ModelError(f"text.model_id: directory not found: {Path(model_id).expanduser()}")
    cache = hf_cache_dir()
    only_local = offline()
    if not only_local and not hf_cached(model_id) and not reachable(HF_ENDPOINT):
        only_local = True
    try:
        with _download_guard():
            return loader.from_pretrained(model_id, cache_dir=str(cache), local_files_only=only_local, **kwargs)
    except (OSError, ValueError) as exc:
        why = offline_reason() if offline() else ("huggingface.co cannot be reached" if only_local
                                                   else f"{str(exc).splitlines()[0]}")
        raise ModelError(f"text.model_id '{model_id}' is not in the Hugging Face cache and {why}: fill "
                         f"{hf_repo_dir(model_id)} (e.g. 'hf download {model_id}' where the "
                         "network allows, with the same HF_HOME / HF_HUB_CACHE)") from None


def fetch_hf(model_id: str) -> str | None:
    """Make ``model_id`` usable (a local dir, cached, or its config downloaded); None when it is, else why not."""
    if checkpoint_available(model_id):
        return None
    if looks_like_path(model_id):
        return f"no checkpoint directory {Path(model_id).expanduser()}"
    if offline():
        return f"{model_id} is not in the Hugging Face cache ({hf_repo_dir(model_id)}) and {offline_reason()}"
    if not reachable(HF_ENDPOINT):
        return f"{model_id} is not in the Hugging Face cache ({hf_repo_dir(model_id)}) and huggingface.co cannot be reached"
    from transformers import AutoConfig

    try:
        hf_from_pretrained(AutoConfig, model_id)
    except ModelError as exc:
        return str(exc)
    return None
