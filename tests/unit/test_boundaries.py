"""Folder boundaries of CONVENTIONS.md that import-linter's config can't express per subpackage."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _py_files(*folders: str):
    for folder in folders:
        yield from (ROOT / folder).rglob("*.py")


def test_only_dicom_node_reports_imports_highdicom():
    offenders = [
        str(p.relative_to(ROOT))
        for p in _py_files("config", "storage", "models", "analyzers", "dicom_node")
        if "highdicom" in _imports(p) and "dicom_node/reports" not in p.as_posix()
    ]
    assert offenders == []


def test_nothing_imports_dicom_node_except_itself():
    offenders = [
        str(p.relative_to(ROOT))
        for p in _py_files("config", "storage", "models", "analyzers")
        if "dicom_node" in _imports(p)
    ]
    assert offenders == []


def test_torch_only_in_nets_and_train():
    offenders = [
        str(p.relative_to(ROOT))
        for p in _py_files("config", "storage", "models", "analyzers", "dicom_node")
        if "torch" in _imports(p) and not any(s in p.as_posix() for s in ("models/nets", "models/train"))
    ]
    assert offenders == []


def test_modules_stay_small():
    big = [
        (str(p.relative_to(ROOT)), n)
        for p in _py_files("config", "storage", "models", "analyzers", "dicom_node")
        if (n := len(p.read_text().splitlines())) > 600
    ]
    assert big == []
