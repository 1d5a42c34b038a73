"""The package's shape: no import circles, every module on its floor, commands importable alone.

Floors (docs/ARCHITECTURE.md): a module imports only from its own floor or the
floors below it, and never in a circle.  The imports are read from the source
(module level and inside functions alike), so a lazy import cannot hide a circle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kgenrich"

# module (or package prefix) -> floor; the first matching prefix wins, longest first
FLOORS = {
    "kgenrich.errors": 0, "kgenrich.plugins": 0, "kgenrich.records": 0, "kgenrich.task_types": 0, "kgenrich.namespaces": 0, "kgenrich.redact": 0,
    "kgenrich.resources": 0,
    "kgenrich.sparql": 1, "kgenrich.config": 1, "kgenrich.store": 1, "kgenrich.graphs": 1,
    "kgenrich.vocabulary": 1, "kgenrich.propertypath": 1,
    "kgenrich.profiles": 2, "kgenrich.tasks": 2, "kgenrich.task_definitions": 2, "kgenrich.task_checks": 2,
    "kgenrich.labels": 2, "kgenrich.dataset": 2, "kgenrich.dataset_export": 2, "kgenrich.record_values": 2,
    "kgenrich.querying": 2,
    "kgenrich.pipeline": 3, "kgenrich.config_graph": 3,
    "kgenrich.metrics": 4, "kgenrich.models": 4, "kgenrich.training": 4, "kgenrich.evaluation": 4,
    "kgenrich.calibration": 4, "kgenrich.model_settings": 4, "kgenrich.crossfit": 4, "kgenrich.models_dir": 4,
    "kgenrich.ensemble": 4, "kgenrich.ensemble_calibration": 4,
    "kgenrich.models.pretrained": 4, "kgenrich.models.image_data": 4, "kgenrich.models.distributed": 4,
    "kgenrich.predictions": 5, "kgenrich.prediction_triples": 5, "kgenrich.validation": 5,
    "kgenrich.sync": 6, "kgenrich.review": 6, "kgenrich.demo": 6,
    "kgenrich.cli_util": 7,
    "kgenrich.cli": 8, "kgenrich.__main__": 9, "kgenrich": 0,
}


def floor(module: str) -> int:
    for prefix in sorted(FLOORS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + ".") or (prefix.endswith("cli") and module.startswith(prefix)):
            return FLOORS[prefix]
    raise AssertionError(f"{module} has no floor: add it to FLOORS and docs/ARCHITECTURE.md")


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    found = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            targets = [prefix] + [f"{prefix}.{a.name}" for a in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and target.startswith("kgenrich"):
                # a package importing its own submodules is its public face, not a dependency
                if not (is_package and target.startswith(name + ".")) and not (
                        known[target].name == "__init__.py" and name.startswith(target + ".")):
                    found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_cycle():
    # the checker itself must be able to fail
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_every_module_imports_only_its_floor_or_below():
    wrong = [f"{m} (floor {floor(m)}) imports {t} (floor {floor(t)})"
             for m, targets in graph().items() for t in sorted(targets) if floor(t) > floor(m)]
    assert wrong == []


@pytest.mark.parametrize("module", ["kgenrich.cli_demo", "kgenrich.cli_models", "kgenrich.cli_sync",
                                    "kgenrich.cli_store", "kgenrich.cli_data", "kgenrich.cli_config", "kgenrich.pipeline",
                                    "kgenrich.sync", "kgenrich.evaluation", "kgenrich.cli_review", "kgenrich.review.app"])
def test_module_imports_on_its_own(module):
    result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
