"""Data flows one way, species_data -> train -> serve, and the pure modules stay pure.

Two checks each: the source's import statements (every module, including imports inside
functions), and a fresh interpreter that imports the modules and then reads
`sys.modules` (what really got loaded, through every package `__init__`)."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PURE = ("train.decision_rule", "train.release", "serve.identify.decisions", "serve.identify.key", "serve.quiz.engine",
        "serve.quiz.schedule", "serve.quiz.choices", "serve.login_throttle", "serve.records.seizure",
        "species_data.catalogue", "species_data.cites", "species_data.key")
HEAVY = ("torch", "torchvision", "timm", "gradio", "sqlalchemy", "onnxruntime")


def _modules(package: str) -> list[str]:
    return sorted(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                  for p in (ROOT / package).rglob("*.py") if p.name != "__main__.py")  # __main__ runs a command


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package, forbidden", [("species_data", {"train", "serve"}), ("train", {"serve"})])
def test_no_import_statement_points_upstream(package, forbidden):
    offenders = {str(p.relative_to(ROOT)): sorted(_imported_roots(p) & forbidden)
                 for p in (ROOT / package).rglob("*.py") if _imported_roots(p) & forbidden}
    assert not offenders, f"{package} must not import {sorted(forbidden)}: {offenders}"


def _loaded_after_importing(modules) -> set[str]:
    code = ("import importlib, json, sys\n"
            f"for name in {list(modules)!r}:\n    importlib.import_module(name)\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_species_data_and_train_loads_no_serve():
    loaded = _loaded_after_importing(_modules("species_data"))
    assert not loaded & {"train", "serve"}, loaded & {"train", "serve"}
    loaded = _loaded_after_importing(_modules("train"))  # every module, torch ones included
    assert "serve" not in loaded


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_load_no_torch_gradio_or_database(module):
    loaded = _loaded_after_importing([module])
    assert not loaded & set(HEAVY), f"{module} pulls in {sorted(loaded & set(HEAVY))}"
