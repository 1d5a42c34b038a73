"""Shared test set-up: quiet, single-threaded, offline; SILKNOW data and servers."""

from __future__ import annotations

import os

# Two cores on CI: keep every library single-threaded, and never reach a model hub.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parent.parent
SILKNOW = ROOT.parent / "shared" / "data" / "silknow"
VOCABULARIES = [
    "vocabularies/silknow-thesaurus.ttl",
    "vocabularies/aat-centuries.ttl",
    "vocabularies/silknow-dates-extension.ttl",
    "vocabularies/geonames-subset.ttl",
]


@pytest.fixture(scope="session")
def silknow_dir() -> Path:
    if not (SILKNOW / "kg" / "silknow-train.trig.gz").is_file():
        pytest.skip(f"SILKNOW data not found at {SILKNOW} (only present beside the project checkout on CI and dev machines)")
    return SILKNOW


# The SPARQL servers (Oxigraph, Virtuoso 7) live in servers.py; importing the
# fixtures here makes them available to every test module.
from servers import OxigraphServer, free_port, oxigraph, virtuoso  # noqa: E402,F401
