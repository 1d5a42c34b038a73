"""Where the project's RDF, shapes and queries live, installed or in a checkout.

They sit at the top of the repository (``ontology/``, ``shapes/``,
``queries/``) so that an ontology editor finds them.  A wheel carries copies
of them inside the package, under ``kgenrich/_shipped/`` (setup.py's build
step puts them there); a checkout or an editable install reads the folders
beside the package.  Both are found through :mod:`importlib.resources`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SHIPPED = "_shipped"
FOLDERS = ("ontology", "shapes", "queries")


def resource_dir(name: str) -> Path:
    """The directory of one shipped folder (``ontology``, ``shapes`` or ``queries``)."""
    if name not in FOLDERS:
        raise ValueError(f"not a shipped folder: {name}")
    installed = resources.files("kgenrich") / SHIPPED / name
    if installed.is_dir():
        return Path(str(installed))
    # A checkout (editable install): the folder beside the package.
    return Path(__file__).resolve().parent.parent / name


ONTOLOGY_DIR = resource_dir("ontology")
SHAPES_DIR = resource_dir("shapes")
QUERIES_DIR = resource_dir("queries")
