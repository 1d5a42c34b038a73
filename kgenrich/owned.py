"""Directories kgenrich may remove or replace: only those it can prove it made.

Users point kgenrich at places on their disk (``--models-dir``, ``--store``, report and cache
directories), and a user's folder can sit where kgenrich would put its own.  So every directory
kgenrich creates that it may later rename or remove carries a marker file, :data:`MARKER`, that
names what it is (``{"kgenrich": "models"}``).  Before any rename or removal the marker is read:

- a directory with the expected marker is ours;
- an empty directory holds nothing to lose (it is removed with ``rmdir``, which refuses anything else);
- a directory an older kgenrich wrote, before markers existed, is recognised by the caller's
  ``legacy`` test (its own files, in its own layout, and nothing else);
- anything else -- a folder of the user's, a symbolic link, a file where a directory was expected --
  is refused with one error line that names the path and what to do, and nothing is changed.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from .errors import KgenrichError

MARKER = ".kgenrich-directory"

Legacy = Callable[[Path], bool] | None


class NotOurs(KgenrichError):
    """kgenrich was about to replace or remove a directory it cannot prove it made; nothing was changed."""


def mark(directory: Path, kind: str) -> Path:
    """Create ``directory`` (and its parents) if needed and mark it as kgenrich's ``kind``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text(json.dumps({"kgenrich": kind, "note": "made by kgenrich, which may replace "
                                                "or remove this directory; remove this file to keep it"}) + "\n",
                                    encoding="utf-8")
    return directory


def kind_of(directory: Path) -> str | None:
    """The kind the directory's marker names, or None (no marker, not a plain directory, unreadable)."""
    directory = Path(directory)
    marker = directory / MARKER
    if directory.is_symlink() or not directory.is_dir() or marker.is_symlink() or not marker.is_file():
        return None
    try:
        value = json.loads(marker.read_text(encoding="utf-8")).get("kgenrich")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _is_empty_dir(path: Path) -> bool:
    try:
        return path.is_dir() and not path.is_symlink() and next(os.scandir(path), None) is None
    except OSError:
        return False


def is_ours(directory: Path, kinds: Iterable[str], legacy: Legacy = None) -> bool:
    """True if ``directory`` is marked as one of ``kinds``, is empty, or passes ``legacy``."""
    directory = Path(directory)
    if kind_of(directory) in set(kinds) or _is_empty_dir(directory):
        return True
    if legacy is None or directory.is_symlink() or not directory.is_dir():
        return False
    try:
        return bool(legacy(directory))
    except (OSError, ValueError):
        return False


def _refusal(directory: Path, what: str, advice: str) -> NotOurs:
    directory = Path(directory)
    if directory.is_symlink():
        found = "it is a symbolic link"
    elif not directory.is_dir():
        found = "it is a file, not a directory"
    else:
        try:
            names = sorted(p.name for p in directory.iterdir())
        except OSError:
            names = []
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        found = f"it holds {shown} and no {MARKER} file" if names else "it cannot be read"
    return NotOurs(f"{directory} is not {what} that kgenrich made (kgenrich did not create it: {found}), so "
                   f"kgenrich will not replace or remove it; nothing was changed: {advice}")


def check(directory: Path, kinds: Iterable[str], what: str, advice: str, legacy: Legacy = None) -> None:
    """Raise :class:`NotOurs` unless ``directory`` is absent or ours."""
    directory = Path(directory)
    if (directory.exists() or directory.is_symlink()) and not is_ours(directory, kinds, legacy):
        raise _refusal(directory, what, advice)


def remove(directory: Path, kinds: Iterable[str], what: str, advice: str, legacy: Legacy = None) -> bool:
    """Remove ``directory`` if it is ours (True), do nothing if it is absent (False), refuse otherwise."""
    directory = Path(directory)
    if not (directory.exists() or directory.is_symlink()):
        return False
    kinds = tuple(kinds)
    if kind_of(directory) in kinds or (legacy is not None and is_ours(directory, (), legacy)):
        shutil.rmtree(directory)
        return True
    if _is_empty_dir(directory):
        os.rmdir(directory)  # refuses, rather than removes, anything that appeared in it meanwhile
        return True
    raise _refusal(directory, what, advice)


def remove_if_ours(directory: Path, kinds: Iterable[str], legacy: Legacy = None) -> bool:
    """Remove ``directory`` when it is ours; leave anything else alone and say so with False."""
    directory = Path(directory)
    if not (directory.exists() or directory.is_symlink()) or not is_ours(directory, kinds, legacy):
        return False
    if _is_empty_dir(directory):
        try:
            os.rmdir(directory)
        except OSError:
            return False
        return True
    shutil.rmtree(directory, ignore_errors=True)
    return True
