"""`chatledger bench`: persist latency beside the raw event store, on a throwaway database."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from infrastructure.benchmark import LatencyFigures, PersistBenchmark, RawApplication
from infrastructure.bootstrap import bootstrap
from infrastructure.conversations import (
    Conversation,
    default_data_file,
    generate_conversations,
    read_conversations,
)
from infrastructure.settings import Settings, eventsourcing_env


class Backend(StrEnum):
    sqlite = "sqlite"
    postgres = "postgres"


@contextmanager
def throwaway_database(backend: Backend, database_url: str | None) -> Iterator[str]:
    """A fresh SQLite file, or a fresh schema in the given PostgreSQL database, removed after."""
    if backend is Backend.sqlite:
        with tempfile.TemporaryDirectory(prefix="chatledger-bench-") as folder:
            yield f"sqlite:///{folder}/bench.sqlite"
        return
    if not database_url or not database_url.startswith("postgres"):
        raise typer.BadParameter("--backend postgres needs --database-url postgresql://...")
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{database_url.split('?')[0]}?schema={schema}"
    finally:
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


def workload(count: int) -> tuple[list[str], list[str]]:
    """User prompts and assistant replies: the shared real conversations, else generated ones."""
    path = default_data_file()
    source = read_conversations(path) if path else iter(generate_conversations(count))
    prompts: list[str] = []
    replies: list[str] = []
    for item in source:
        if isinstance(item, Conversation):
            for turn in item.messages:
                (prompts if turn.role == "user" else replies).append(turn.content)
        if min(len(prompts), len(replies)) >= count:
            break
    while min(len(prompts), len(replies)) < count:  # a short file repeats
        prompts, replies = prompts * 2, replies * 2
    return prompts[:count], replies[:count]


def raw_application(backend: Backend, url: str) -> RawApplication:
    """Plain eventsourcing on the same database (its own SQLite file: tables are not per app)."""
    env = eventsourcing_env(Settings(database_url=url))
    env["PERSISTENCE_MODULE"] = f"eventsourcing.{backend.value}"
    if backend is Backend.sqlite:
        env["SQLITE_DBNAME"] = str(Path(env["SQLITE_DBNAME"]).with_suffix(".raw.sqlite"))
    return RawApplication(env=env)


def bench(
    backend: Annotated[Backend, typer.Option(help="Database to measure.")] = Backend.sqlite,
    database_url: Annotated[
        str | None,
        typer.Option(help="PostgreSQL for --backend postgres (a throwaway schema is made there)."),
    ] = None,
    messages: Annotated[int, typer.Option(min=10, help="Messages per operation.")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Measure persist latency (p50, p99, per second) beside a raw eventsourcing save of an event
    of the same size, measured in the same run on the same database."""
    console = Console(stderr=True)
    prompts, replies = workload(messages)
    with throwaway_database(backend, database_url) as url:
        settings = Settings(database_url=url, log_level="warning")
        pipeline = bootstrap(settings)
        raw = raw_application(backend, url)
        try:
            with console.status(f"measuring {messages} persists per operation on {backend}"):
                results = PersistBenchmark(pipeline, raw, prompts, replies).run()
        finally:
            pipeline.close()
            raw.close()
    if as_json:
        print(json.dumps([asdict(r) | {"ratio": r.ratio} for r in results]))
    else:
        print_figures(backend, results)


def print_figures(backend: Backend, results: list[LatencyFigures]) -> None:
    table = Table(title=f"persist latency on {backend} (one client)")
    for column in ("operation", "p50 ms", "p99 ms", "per s", "raw save p50 ms", "ratio"):
        table.add_column(column, justify="right" if column != "operation" else "left")
    for r in results:
        table.add_row(r.operation, f"{r.p50_ms:.3f}", f"{r.p99_ms:.3f}", f"{r.per_second:,.0f}",
                      f"{r.raw_p50_ms:.3f}" if r.raw_p50_ms else "-", f"{r.ratio}x")  # fmt: skip
    Console().print(table)
