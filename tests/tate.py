"""Slices of the real Tate collection in Linked Art (../shared/data/tate/tate.nq.gz) for tests.

The file lists each object's quads in one block that starts with the object's
``rdf:type crm:E22_Human-Made_Object`` line (its blank nodes inside the block), and
the artists' quads (names, births) after all objects.  A slice keeps every
``every``-th object block (so it spans the whole collection: the accession numbers
run from the oldest works to the newest) and the whole artists' section.  Nothing
is copied into the project: the slice is made from the shared file when a test runs.
"""

from __future__ import annotations

import gzip
from pathlib import Path

TATE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "tate"
TATE_NQ = TATE / "tate.nq.gz"
GRAPH = "https://collection.tate.org.uk/graph"
_OBJECT_START = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://www.cidoc-crm.org/cidoc-crm/E22_Human-Made_Object>"
_PERSON = "<https://collection.tate.org.uk/person/"


def tate_slice(every: int = 50, limit: int | None = None, path: Path = TATE_NQ) -> tuple[bytes, list[str]]:
    """(N-Quads of every ``every``-th object and all artists, the object IRIs kept)."""
    out: list[str] = []
    objects: list[str] = []
    index = -1
    keep = False
    in_people = False
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if not in_people:
                if _OBJECT_START in line and line.startswith("<https://collection.tate.org.uk/object/"):
                    index += 1
                    keep = index % every == 0 and (limit is None or len(objects) < limit)
                    if keep:
                        objects.append(line.split(" ", 1)[0][1:-1])
                elif line.startswith(_PERSON) and " <http://www.cidoc-crm.org/cidoc-crm/P" in line and \
                        "P98i_was_born" in line:
                    in_people = True  # the artists' section: kept whole
                    keep = True
            if keep:
                out.append(line)
    return "".join(out).encode("utf-8"), objects
