"""Images for the torch image model: decoded, downsized and augmented in DataLoader workers.

A museum photograph is often a 3000x4000 px JPEG; the network sees 224 px.
Decoding the full photograph every epoch would leave a GPU waiting on the
CPU, so the first read of an image

- decodes a JPEG at a reduced scale straight away (PIL's ``draft``: 1/2, 1/4
  or 1/8 of the size, never below what is needed);
- downsizes it so that its shorter side is ``CACHE_FACTOR`` (1.15) times the
  training size -- room for the random crops of augmentation;
- writes that small copy to a cache on disk (JPEG, quality ``CACHE_QUALITY``),
  keyed by the source's path, size and modification time, written to a
  temporary name and renamed into place, so a killed run or two workers
  writing the same image never leave a torn file; the first read returns the
  copy as later reads will see it.

Later reads -- the next epochs, the next folds of cross-fitting, the next run
-- decode the small copy.  An image whose shorter side is already within the
cache size is read as it is and not copied.  Changing a photograph changes its
key; stale copies are never read (delete the cache directory to reclaim them).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

CACHE_FACTOR = 1.15
CACHE_QUALITY = 90
UNREADABLE = (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError)


def cache_side(size: int) -> int:
    """The shorter side of a cached copy for a network input of ``size`` px."""
    return int(math.ceil(size * CACHE_FACTOR))


def decode_downsized(path: Path, short: int) -> tuple[Image.Image, bool]:
    """The RGB image with its shorter side at most ``short`` (and whether it was made smaller)."""
    with Image.open(path) as source:
        source.draft("RGB", (short, short))  # JPEG only: decode at the smallest scale still >= short
        img = source.convert("RGB")
    w, h = img.size
    side = min(w, h)
    if side <= short:
        return img, False
    scale = short / side
    size = (max(short, round(w * scale)), max(short, round(h * scale)))
    return img.resize(size, Image.Resampling.BILINEAR), True


class ResizedCache:
    """Downsized copies of source images under ``root/resized-<short>/``; ``root=None``: no cache."""

    def __init__(self, root: Path | None, short: int):
        self.root = Path(root).expanduser() if root else None
        self.short = int(short)

    def path_for(self, source: Path) -> Path | None:
        if self.root is None:
            return None
        st = os.stat(source)
        key = hashlib.sha1(f"{Path(source).resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()
        return self.root / f"resized-{self.short}" / key[:2] / f"{key}.jpg"

    def load(self, source: Path) -> Image.Image:
        """The image, from the cache when it is there; a first read fills the cache."""
        cached = self.path_for(source)
        if cached is not None and cached.is_file():
            try:
                with Image.open(cached) as copy:
                    return copy.convert("RGB")
            except UNREADABLE:
                pass  # a damaged copy: read the source again and replace it
        img, smaller = decode_downsized(source, self.short)
        if cached is not None and smaller and self._write(cached, img):
            # what every later read will see (the JPEG copy), so that a first epoch, a resumed
            # run and a prediction all get the same pixels
            with Image.open(cached) as copy:
                return copy.convert("RGB")
        return img

    def _write(self, path: Path, img: Image.Image) -> bool:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            img.save(tmp, format="JPEG", quality=CACHE_QUALITY)
            os.replace(tmp, path)
            return True
        except OSError:
            return False  # a full or read-only disk costs speed, never the run


class ImageDataset(torch.utils.data.Dataset):
    """Item ``i``: (the transformed image ``paths[i]``, True), or (zeros, False) when it cannot be read.
    The image model's transforms end in a uint8 tensor; it is normalised on the device.

    ``transform=None`` only reads (and caches) the image: the check of which images are readable.
    """

    def __init__(self, paths: Sequence[str], transform: Callable | None, size: int, cache: ResizedCache):
        self.paths = list(paths)
        self.transform = transform
        self.size = int(size)
        self.cache = cache

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            img = self.cache.load(Path(self.paths[i]))
        except UNREADABLE:
            return self._blank(), False
        if self.transform is None:
            return torch.zeros(0), True
        return self.transform(img), True

    def _blank(self) -> torch.Tensor:
        return torch.zeros(0) if self.transform is None else torch.zeros(3, self.size, self.size, dtype=torch.uint8)


def default_workers() -> int:
    """DataLoader workers: the CPU cores this process may use, one left for the main process, at most 8;
    under torchrun the node's cores are shared by its processes."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    per_process = cores // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(0, min(8, per_process - 1))
