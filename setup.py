"""Build step only (metadata is in pyproject.toml): ship ontology/, shapes/ and queries/ in the wheel.

The folders stay at the top of the repository, where editors find them; the
wheel gets copies under ``kgenrich/_shipped/`` that kgenrich/resources.py reads.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

FOLDERS = ("ontology", "shapes", "queries")
SUFFIXES = {".ttl", ".rq", ".nt", ".trig", ".rdf", ".owl"}


class BuildWithResources(build_py):
    def run(self):
        super().run()
        root = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "kgenrich" / "_shipped"
        for folder in FOLDERS:
            destination = target / folder
            if destination.exists():
                shutil.rmtree(destination)
            for source in sorted((root / folder).rglob("*")):
                if source.is_file() and source.suffix in SUFFIXES:
                    out = destination / source.relative_to(root / folder)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, out)


setup(cmdclass={"build_py": BuildWithResources})
