"""Where the project's RDF, shapes and queries live.

They sit at the top of the checkout (ontology/, shapes/, queries/) so that an
ontology editor finds them; the package is installed editable, so the paths
are found relative to this file.
"""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ONTOLOGY_DIR = PROJECT_ROOT / "ontology"
SHAPES_DIR = PROJECT_ROOT / "shapes"
QUERIES_DIR = PROJECT_ROOT / "queries"
