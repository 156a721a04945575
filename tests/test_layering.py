"""Dependencies point inward (infrastructure -> projections -> domain), the command line and the
HTTP service never import each other, only the command line loads the benchmarks, nothing imports
the repository's folders by their bare names, and no module imports itself round a circle.
Checked on the source, every import counted, those inside functions too."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "chatledger"
FOLDERS = ("domain", "projections", "infrastructure")
DRIVERS = {"psycopg", "psycopg_pool", "sqlite3", "eventsourcing.sqlite", "eventsourcing.postgres",
           "eventsourcing.popo"}  # fmt: skip
ALLOWED = {
    "domain": {"chatledger.domain", "pydantic", "eventsourcing"},
    # structlog: the read side logs the events it quarantines (configuring logging stays with
    # the entry points).
    "projections": {
        "chatledger.domain",
        "chatledger.projections",
        "pydantic",
        "eventsourcing",
        "structlog",
    },
}
ENTRY_POINTS = ("cli", "http", "bench")
# What may stand at the top of infrastructure/ rather than in a sub-package named for its role.
INFRASTRUCTURE_TOP = {"__init__.py", "bootstrap.py", "settings.py"}


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules |= {f"{node.module}.{alias.name}" for alias in node.names}
    return modules


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[0] in FOLDERS:
        parts = (PACKAGE, *parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> dict[str, Path]:
    """Every module of the package, by its import name (the folders, not the links to them)."""
    paths = [p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")]
    paths += list((ROOT / PACKAGE).glob("*.py"))
    return {module_name(path): path for path in sorted(paths)}


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def own_imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that a file imports (a name imported from a module is dropped
    unless it is a module itself)."""
    return {m for m in imported_modules(path) if m in modules}


def violations(folder: str) -> list[str]:
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for module in imported_modules(path):
            top = module.split(".")[0]
            allowed = any(within(module, prefix) for prefix in ALLOWED[folder])
            is_driver = any(within(module, driver) for driver in DRIVERS)
            if is_driver or not (top in sys.stdlib_module_names or allowed):
                found.append(f"{path.relative_to(ROOT)} imports {module}")
    return found


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_inner_layers_import_only_what_they_may(folder: str) -> None:
    assert violations(folder) == []


def test_nothing_imports_the_folders_by_their_bare_names() -> None:
    paths = [*sources().values(), *(ROOT / "tests").rglob("*.py")]
    bare = [f"{path.relative_to(ROOT)} imports {module}" for path in paths
            for module in imported_modules(path) if module.split(".")[0] in FOLDERS]  # fmt: skip
    assert bare == []


def role_of(module: str) -> str:
    """The infrastructure sub-package a module sits in ("" outside infrastructure, but for
    `python -m chatledger`, which is the command line)."""
    if module == f"{PACKAGE}.__main__":
        return "cli"
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "infrastructure" else ""


def entry_point_imports() -> list[str]:
    """Imports that break the rules of the entry points: cli and http never import each other;
    bench only from cli; the other sub-packages, bootstrap and settings import none of them."""
    modules = sources()
    found = []
    for name, path in modules.items():
        for imported in own_imports(path, modules):
            target, role = role_of(imported), role_of(name)
            if target in ENTRY_POINTS and target != role and (target, role) != ("bench", "cli"):
                found.append(f"{name} imports {imported}")
    return found


def test_entry_points_stay_apart() -> None:
    assert entry_point_imports() == []


def test_infrastructure_modules_sit_in_a_folder_named_for_their_role() -> None:
    loose = {p.name for p in (ROOT / "infrastructure").glob("*.py")} - INFRASTRUCTURE_TOP
    assert loose == set()


def import_circles() -> list[list[str]]:
    """Each circle once, found by a depth-first walk of the module graph."""
    modules = sources()
    graph = {name: sorted(own_imports(path, modules) - {name}) for name, path in modules.items()}
    circles: list[list[str]] = []
    done: set[str] = set()
    trail: list[str] = []

    def walk(name: str) -> None:
        if name in trail:
            circles.append([*trail[trail.index(name) :], name])
            return
        if name in done:
            return
        trail.append(name)
        for imported in graph[name]:
            walk(imported)
        trail.pop()
        done.add(name)

    for name in graph:
        walk(name)
    return circles


def test_no_import_circles() -> None:
    assert import_circles() == []


def test_the_checks_see_imports_inside_functions(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import psycopg\n"
        "from chatledger.infrastructure.cli import main\n"
        "def later():\n"
        "    from chatledger.infrastructure.http.server import app_for\n"
    )
    assert imported_modules(sample) == {
        "psycopg",
        "chatledger.infrastructure.cli",
        "chatledger.infrastructure.cli.main",
        "chatledger.infrastructure.http.server",
        "chatledger.infrastructure.http.server.app_for",
    }
