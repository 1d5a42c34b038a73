"""The wheel, installed as a user installs it (not editable), is a working tool.

The wheel is built from a copy of the tracked files, installed with pip into a
fresh virtual environment that borrows the test environment's dependencies
through a .pth file (no download, no second torch), and used from a directory
outside the checkout, so nothing can be read from the repository by accident.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from helpers import MINI

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _tracked_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is needed to list the checkout's files")
    return [line for line in out.splitlines() if line and (ROOT / line).is_file()]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for name in _tracked_files():
        if name.startswith(("tests/", "bench/", "docs/")):
            continue
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    dist = tmp / "dist"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(dist), str(src)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    wheel = next(dist.glob("kgenrich-*.whl"))

    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # The test environment's packages (torch, rdflib ...) without its editable kgenrich: a path
    # listed in a .pth file is added as it is, its own .pth files are not run.
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_kgenrich_test_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                              "--no-index", str(wheel)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    return venv, wheel


def _run(venv: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KGENRICH_", "PYTHONPATH"))}
    return subprocess.run([str(venv / "bin" / "kgenrich"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_wheel_carries_queries_shapes_and_ontology(installed):
    import zipfile

    _, wheel = installed
    names = zipfile.ZipFile(wheel).namelist()
    for expected in ("kgenrich/_shipped/queries/tasks.rq", "kgenrich/_shipped/queries/validate/statement-subject.rq",
                     "kgenrich/_shipped/queries/examples/predicted_material.rq",
                     "kgenrich/_shipped/shapes/predictions.ttl", "kgenrich/_shipped/ontology/kgenrich.ttl",
                     "kgenrich/_shipped/ontology/profiles/silknow.ttl", "kgenrich/_shipped/ontology/crm-core.ttl",
                     "kgenrich/_shipped/shapes/tasks.ttl", "kgenrich/demo/data/thesaurus.ttl"):
        assert expected in names, expected


def test_installed_wheel_runs_tasks_and_labels(installed, tmp_path):
    venv, _ = installed
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("KGENRICH_", "PYTHONPATH"))}
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import kgenrich.resources as r, kgenrich; print(kgenrich.__file__); print(r.QUERIES_DIR)"],
                           cwd=tmp_path, env=clean_env, capture_output=True, text=True, check=True).stdout.split()
    assert all(str(venv) in line for line in where), where  # the installed copy, not the checkout

    assert _run(venv, ["--store", "st", "load", str(MINI)], tmp_path).returncode == 0
    tasks = _run(venv, ["--store", "st", "tasks", "--json"], tmp_path)
    assert tasks.returncode == 0, tasks.stderr
    names = [t["name"] for t in json.loads(tasks.stdout)["tasks"]]
    assert names == ["material", "technique", "place", "time", "depiction"]
    labels = _run(venv, ["--store", "st", "labels", "--json"], tmp_path)
    assert labels.returncode == 0, labels.stderr
    by_task = {t["task"]: t for t in json.loads(labels.stdout)["tasks"]}
    # the mini collection is far below the shipped minimum supports: every group is dropped, none invented
    assert by_task["material"]["groups"] == [] and by_task["material"]["dropped"]
