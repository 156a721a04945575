"""Dependencies point inward: infrastructure -> projections -> domain (checked on the source)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DRIVERS = {"psycopg", "psycopg_pool", "sqlite3", "eventsourcing.sqlite", "eventsourcing.postgres",
           "eventsourcing.popo"}  # fmt: skip
ALLOWED = {
    "domain": {"domain", "pydantic", "eventsourcing"},
    "projections": {"domain", "projections", "pydantic", "eventsourcing"},
}


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def violations(package: str) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for module in imported_modules(path):
            top = module.split(".")[0]
            is_driver = any(module == d or module.startswith(d + ".") for d in DRIVERS)
            if is_driver or (top not in sys.stdlib_module_names and top not in ALLOWED[package]):
                found.append(f"{path.relative_to(ROOT)} imports {module}")
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_inner_layers_import_only_what_they_may(package: str) -> None:
    assert violations(package) == []


def test_the_check_catches_a_driver_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import psycopg\nfrom infrastructure.cli import app\n")
    assert imported_modules(sample) == {"psycopg", "infrastructure.cli"}
