"""Thumbnails of artifact images, made by the server from local files and cached on disk.

The page never names a file: it asks for image number N of an artifact, and the server
resolves that image's location from the graph with the same rules as the image model
(models/images.py ``ImageSource``: local paths, ``file://``, ``images_root``, the http(s)
image cache).  A thumbnail is cached under ``[review] thumbnail_dir`` by a hash of the
file's path, size and modification time, so an edited image gets a new one.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ..models.image_source import ImageSource

SIZE = 320
LARGE = 1024  # the enlarged view


class Thumbnails:
    def __init__(self, settings, directory: str | None = None):
        self.source = ImageSource.from_settings(settings)
        self.dir = Path(directory or settings.review.thumbnail_dir)

    def get(self, location: str, large: bool = False) -> Path | None:
        """The cached JPEG thumbnail (``large``: the enlarged view) of an image location, made when
        missing; None when unreadable."""
        size = LARGE if large else SIZE
        path = self.source.resolve(location)
        if path is None or not path.is_file():
            return None
        st = path.stat()
        key = hashlib.sha256(f"{path.resolve()}\x1f{st.st_size}\x1f{st.st_mtime_ns}\x1f{size}".encode()).hexdigest()
        target = self.dir / key[:2] / f"{key}.jpg"
        if target.is_file():
            return target
        try:
            with Image.open(path) as opened:
                opened.load()
                img = opened.convert("RGB")
                img.thumbnail((size, size))
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f"{target.name}.{os.getpid()}.partial")
                img.save(tmp, "JPEG", quality=85)
                os.replace(tmp, target)
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            return None
        return target
