"""ingest (the package): its public names, modules of a readable size, and rejections only by named rule."""

from __future__ import annotations

import ast

import dashboard.ingest as ingest
from tests.conftest import REPO

PACKAGE = REPO / "src" / "dashboard" / "ingest"


def test_public_names_are_importable():
    assert all(hasattr(ingest, name) for name in ingest.__all__)


def test_every_module_stays_readable():
    for path in PACKAGE.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 800, path.name


def test_rows_are_rejected_by_named_rules_only():
    """Every ``.add(mask, ...)`` on a Rejections passes a Rule, never a text to be read back."""
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add" \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "rej":
                assert not isinstance(node.args[1], (ast.Constant, ast.JoinedStr)), f"{path.name}:{node.lineno}"
