"""Every byte a backend keeps of a test database: the SQLite file and its WAL, or a pg_dump of
the test schema (events, snapshots, read models, keys). For searching them for erased text."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from chatledger.infrastructure.settings import Settings, eventsourcing_env


def pg_dump_binary() -> str:
    found = shutil.which("pg_dump")
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"))
    if not candidates:
        pytest.fail("pg_dump not found (the PostgreSQL tests need the server binaries)")
    return str(candidates[-1])


def stored_bytes(database_url: str, backend: str) -> bytes:
    if backend == "sqlite":
        path = Path(eventsourcing_env(Settings(database_url=database_url))["SQLITE_DBNAME"])
        files = [path, path.with_name(path.name + "-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    base, schema = database_url.split("?schema=")
    dumped = subprocess.run(
        [pg_dump_binary(), "--schema", schema, "--dbname", base],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return dumped.stdout


def encodings(text: str) -> list[bytes]:
    """How a text can appear in storage: UTF-8 (read models), JSON with ASCII escapes (the
    event store's JSON), and either in hex (pg_dump writes the events' bytea column in hex)."""
    forms = [text.encode("utf-8"), json.dumps(text)[1:-1].encode("ascii")]
    return forms + [form.hex().encode("ascii") for form in forms]


@dataclass(frozen=True)
class Search:
    scanned: int
    texts: int
    hits: list[str]


def search(data: bytes, texts: list[str]) -> Search:
    hits = [text for text in texts if any(form in data for form in encodings(text))]
    return Search(scanned=len(data), texts=len(texts), hits=hits)
