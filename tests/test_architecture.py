"""The house rules of docs/developing.md: thin pages, one cache boundary, Streamlit only in loader/ui,
a docstring on every module and a test file per module."""

from __future__ import annotations

import ast
import re

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "src" / "dashboard"
PAGES = sorted((REPO / "views").glob("*.py"))
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name not in {"__init__.py", "__main__.py"})


def module_id(path) -> str:
    """ingest/read.py -> ingest_read: a module's name in the package, as its test file is named."""
    return "_".join(path.relative_to(PACKAGE).with_suffix("").parts) if path.is_relative_to(PACKAGE) else path.name


def imports(path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_are_composition_only(page):
    text = page.read_text()
    assert len(text.splitlines()) <= 110, "pages stay about 100 lines"
    assert not re.search(r"st\.cache_(data|resource)", text), "caching belongs in loader.py"
    assert not imports(page) & {"folium", "plotly", "pandas", "duckdb", "geopandas", "numpy"}
    assert not re.search(r"\.groupby\(|\.merge\(|\.pivot|read_csv|read_parquet|open\(", text)
    assert "try:" not in text and "except" not in text, "app.py holds the one error boundary"


def test_only_loader_and_ui_import_streamlit():
    users = {p.name for p in MODULES if "streamlit" in imports(p)}
    assert users == {"loader.py", "ui.py"}


def test_only_loader_caches():
    users = {p.name for p in [*MODULES, REPO / "app.py", *PAGES] if re.search(r"cache_(data|resource)", p.read_text())}
    assert users == {"loader.py"}


@pytest.mark.parametrize("module", [*MODULES, *PACKAGE.rglob("__init__.py"), REPO / "app.py", *PAGES], ids=module_id)
def test_every_module_says_what_it_is_for(module):
    doc = ast.get_docstring(ast.parse(module.read_text()))
    assert doc and len(doc) > 20


@pytest.mark.parametrize("module", MODULES, ids=module_id)
def test_every_module_has_its_test_file(module):
    assert (REPO / "tests" / f"test_{module_id(module)}.py").is_file()


def test_no_cdn_or_tile_host_in_product_code():
    pattern = re.compile(r"cdn\.jsdelivr|unpkg\.com|cdnjs\.|code\.jquery|bootstrapcdn|tile\.openstreetmap")
    offenders = [p.name for p in [*MODULES, REPO / "app.py", *PAGES]
                 if pattern.search(p.read_text()) and p.name != "offline.py"]  # offline.py rewrites them
    assert not offenders
