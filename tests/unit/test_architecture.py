"""The layering the README's architecture section states, checked on the package's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "thoth" / "package_releases"
PREFIX = "thoth.package_releases"


def imported_modules(path: Path) -> set[str]:
    """Return every module a file imports (``import x`` and ``from x import y``, at any depth)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            modules.add(node.module)
    return modules


def package_imports(path: Path) -> set[str]:
    """Return the modules of the package a file imports."""
    return {module for module in imported_modules(path) if module == PREFIX or module.startswith(PREFIX + ".")}


def test_the_import_walker_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "example.py"
    source.write_text("import os\n\ndef f():\n    from thoth.package_releases.sources import pages\n")
    assert imported_modules(source) == {"os", "thoth.package_releases.sources"}


@pytest.mark.parametrize("path", sorted((PACKAGE / "store").glob("*.py")), ids=lambda p: p.name)
def test_the_store_does_not_import_the_sources(path: Path) -> None:
    assert not {m for m in package_imports(path) if m.startswith(f"{PREFIX}.sources")}


@pytest.mark.parametrize("path", sorted((PACKAGE / "sources").glob("*.py")), ids=lambda p: p.name)
def test_the_sources_do_not_import_the_store(path: Path) -> None:
    assert not {m for m in package_imports(path) if m.startswith(f"{PREFIX}.store")}


@pytest.mark.parametrize("name", ["release_events.py", "distributions.py", "releases.py"])
def test_the_pure_logic_the_store_uses_imports_neither_side(name: str) -> None:
    imports = package_imports(PACKAGE / name)
    assert not {m for m in imports if m.startswith((f"{PREFIX}.sources", f"{PREFIX}.store"))}


def test_the_values_import_nothing_of_the_package() -> None:
    assert package_imports(PACKAGE / "values.py") == set()
