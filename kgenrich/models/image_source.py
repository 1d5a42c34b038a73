"""Finding and reading artifact images.

An image location is what the graph gives (schema:contentUrl, else the image
IRI): a local path, a ``file://`` URI, a path relative to the configured
``images_root``, or an http(s) URL.  Remote images are only read from a local
cache; filling the cache is opt-in (``fetch_images``) with a short timeout and
a bounded number of parallel downloads, so that an offline run never waits on
the network.  Whatever cannot be found or decoded is skipped and counted --
one bad file must not stop the training of a whole collection.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from PIL import Image, UnidentifiedImageError

if TYPE_CHECKING:
    from ..config import Settings

DEFAULT_FETCH_TIMEOUT = 5.0  # seconds per image download (fetch_images)
DEFAULT_FETCH_WORKERS = 8  # parallel downloads


class ImageSource:
    def __init__(self, images_root: str | None = None, fetch: bool = False, cache_dir: str | None = None,
                 timeout: float = DEFAULT_FETCH_TIMEOUT, workers: int = DEFAULT_FETCH_WORKERS):
        self.root = Path(images_root).expanduser() if images_root else None
        self.fetch = bool(fetch)
        self.cache_dir = Path(cache_dir or os.path.join(".kgenrich", "image-cache")).expanduser()
        self.timeout = float(timeout)
        self.workers = max(1, int(workers))
        self.skipped: Counter = Counter()  # reason -> count
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings | None, cache_dir: str | None = None,
                      timeout: float = DEFAULT_FETCH_TIMEOUT, workers: int = DEFAULT_FETCH_WORKERS) -> ImageSource:
        """The images as the settings find them (``images_root``, ``fetch_images``); the download cache in
        ``cache_dir``, else image-cache/ beside the models directory."""
        if settings is None:
            return cls(cache_dir=cache_dir, timeout=timeout, workers=workers)
        if not cache_dir:
            cache_dir = str(Path(settings.models_dir).parent / "image-cache")  # .kgenrich/image-cache by default
        return cls(images_root=settings.images_root, fetch=settings.fetch_images, cache_dir=cache_dir,
                   timeout=timeout, workers=workers)

    # -- locations -----------------------------------------------------------
    def _cache_path(self, url: str) -> Path:
        suffix = Path(urlparse(url).path).suffix.lower()
        if suffix not in (".jpg", ".jpeg", ".png", ".gif", ".webp", ".tif", ".tiff", ".bmp"):
            suffix = ".img"
        return self.cache_dir / (hashlib.sha1(url.encode()).hexdigest() + suffix)

    def resolve(self, location: str) -> Path | None:
        """The local file for a location, or None (not counted here)."""
        if not location:
            return None
        parsed = urlparse(location)
        scheme = parsed.scheme.lower()
        if scheme in ("http", "https"):
            path = self._cache_path(location)
            return path if path.is_file() else None
        if scheme == "file":
            path = Path(url2pathname(unquote(parsed.path)))
        elif scheme and len(scheme) > 1:  # another IRI scheme (urn:, data.silknow.org image nodes ...)
            return None
        else:
            path = Path(location).expanduser()
        if not path.is_absolute() and self.root is not None:
            path = self.root / path
        elif path.is_absolute() and not path.is_file() and self.root is not None:
            # a path from another machine: look for the same relative name under the root
            candidate = self.root / path.name
            if candidate.is_file():
                return candidate
        return path

    def prefetch(self, locations: Iterable[str]) -> int:
        """Download the http(s) images not yet cached (only when fetching is enabled)."""
        if not self.fetch:
            return 0
        todo = sorted({loc for loc in locations if urlparse(loc).scheme.lower() in ("http", "https")
                       and not self._cache_path(loc).is_file()})
        if not todo:
            return 0
        import requests

        self.cache_dir.mkdir(parents=True, exist_ok=True)

        def get(url):
            try:
                resp = requests.get(url, timeout=self.timeout)
                if resp.status_code != 200 or not resp.content:
                    return False
                tmp = self._cache_path(url).with_suffix(".part")
                tmp.write_bytes(resp.content)
                tmp.replace(self._cache_path(url))
                return True
            except Exception:  # any network failure: skip the image, keep going
                return False

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            ok = list(pool.map(get, todo))
        with self._lock:
            self.skipped["download failed"] += ok.count(False)
        return ok.count(True)

    # -- reading -------------------------------------------------------------
    def open(self, location: str) -> Image.Image | None:
        """The decoded RGB image, or None (counted by reason)."""
        path = self.resolve(location)
        reason = None
        if path is None:
            reason = "remote, not fetched" if urlparse(location).scheme.lower() in ("http", "https") else "unresolvable"
        elif not path.is_file():
            reason = "missing file"
        else:
            try:
                with Image.open(path) as img:
                    img.load()
                    return img.convert("RGB")
            except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
                reason = "unreadable file"
        with self._lock:
            self.skipped[reason] += 1
        return None

    def report(self) -> str:
        if not self.skipped:
            return "all images read"
        return "skipped images: " + ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()))
