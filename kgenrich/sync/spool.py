"""The spool: a run's new triples on disk, ``{models_dir}/../sync-staging/{run}/``, appended chunk by
chunk (only validated chunks), removed after the write and at the start of the next run when a
killed run left them."""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from .. import owned
from ..config import Settings

SPOOL_DIR = "sync-staging"
SPOOL_KIND = "sync-spool"  # the marker kind of a run's spool directory (owned.py)
SPOOL_FILES = ("reified.nt", "derived.nt", "minted.nt", "provenance.nt", "state.nt", "withdrawn.nt", "graph.nt")


def spool_root(settings: Settings) -> Path:
    """The directory every run's spool sits in (beside the models directory)."""
    return Path(settings.models_dir).resolve().parent / SPOOL_DIR


def legacy_spool(directory: Path) -> bool:
    """A spool directory of a kgenrich older than the marker: a run's name, the spool files only."""
    return bool(re.fullmatch(r"\d{8}T\d{6}-[0-9a-f]{8}(-shard\d+)?", directory.name)) and all(
        entry.is_file() and not entry.is_symlink() and entry.name in SPOOL_FILES for entry in directory.iterdir())


def drop_spools(settings: Settings, keep_run: str = "") -> int:
    """Remove the spool directories of killed runs (except run ``keep_run``'s); only ours: anything
    else in the spool root stays where it is."""
    root = spool_root(settings)
    if not root.is_dir() or root.is_symlink():
        return 0
    stale = [d for d in root.iterdir() if d.is_dir() and not (keep_run and d.name.startswith(keep_run))]
    return sum(owned.remove_if_ours(d, (SPOOL_KIND,), legacy_spool) for d in stale)


class Spool:
    """The run's new triples on disk, appended chunk by chunk (only validated chunks).

    ``reified``: statements and activities; ``derived``: the plain triples; ``minted``: the
    productions kgenrich minted; ``provenance``/``state``: what the provenance graph gains;
    ``withdrawn``: the marks of what a staged write removes; ``graph``: reified + derived in one.
    """

    def __init__(self, directory: Path):
        self.dir = directory
        owned.check(directory, (SPOOL_KIND,), "a sync spool directory",
                    f"move it out of {directory.parent}", legacy_spool)
        owned.mark(directory, SPOOL_KIND)
        self.reified = self.dir / "reified.nt"
        self.derived = self.dir / "derived.nt"
        self.minted = self.dir / "minted.nt"
        self.provenance = self.dir / "provenance.nt"
        self.state = self.dir / "state.nt"
        self.withdrawn = self.dir / "withdrawn.nt"
        self.graph = self.dir / "graph.nt"
        for path in (self.reified, self.derived, self.minted):
            path.write_text("", encoding="utf-8")
        self.lines = {"reified": 0, "derived": 0, "minted": 0}

    def append(self, name: str, lines: Sequence[str]) -> None:
        if lines:
            with open(getattr(self, name), "a", encoding="utf-8") as fh:
                fh.writelines(lines)
            self.lines[name] = self.lines.get(name, 0) + len(lines)

    def whole_graph(self) -> Path:
        """reified + derived in one file: the triples as they read in the live graph."""
        with open(self.graph, "wb") as out:
            for part in (self.reified, self.derived):
                with open(part, "rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 20)
        return self.graph

    def remove(self) -> None:
        owned.remove_if_ours(self.dir, (SPOOL_KIND,))
