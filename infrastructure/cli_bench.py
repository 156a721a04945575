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
from typing import Annotated, Any

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from infrastructure.benchmark import LatencyFigures, PersistBenchmark, RawApplication
from infrastructure.benchmark_read import QueryFigures, RateFigures, ReadSideBenchmark
from infrastructure.bootstrap import bootstrap
from infrastructure.conversations import (
    Conversation,
    default_data_file,
    generate_conversations,
    read_conversations,
)
from infrastructure.read_models import build_read_side
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
    messages: Annotated[int, typer.Option(min=10, help="Messages per persist operation.")] = 1000,
    history: Annotated[
        str, typer.Option(help="History sizes (messages of one user) for the read-side figures.")
    ] = "1000,10000,100000",
    only: Annotated[Phase | None, typer.Option(help="Run one phase only.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Measure ChatLedger beside the raw layers underneath, in one run on a throwaway database:
    persist latency beside a raw eventsourcing save of an event of the same size; stats query
    latency at growing history; projection rebuild rate beside the raw read rate of the log."""
    console = Console(stderr=True)
    sizes = [int(size) for size in history.split(",") if size.strip()]
    prompts, replies = workload(messages)
    report: dict[str, Any] = {"backend": backend.value}
    with throwaway_database(backend, database_url) as url:
        settings = Settings(database_url=url, log_level="warning")
        pipeline = bootstrap(settings)
        try:
            if only in (None, Phase.persist):
                raw = raw_application(backend, url)
                with console.status(f"persist: {messages} messages per operation on {backend}"):
                    report["persist"] = PersistBenchmark(pipeline, raw, prompts, replies).run()
                raw.close()
            if only in (None, Phase.read):
                read_side = build_read_side(settings, pipeline, catch_up_on_read=False)
                with console.status(f"read side: histories of {history} messages on {backend}"):
                    benchmark = ReadSideBenchmark(pipeline, read_side, prompts + replies)
                    report["queries"], report["rebuilds"] = benchmark.run(sizes)
                read_side.close()
        finally:
            pipeline.close()
    if as_json:
        print(json.dumps(report, default=_as_dict))
    else:
        print_report(report)


class Phase(StrEnum):
    persist = "persist"
    read = "read"


def _as_dict(figures: Any) -> dict[str, Any]:
    extra = {"ratio": figures.ratio} if isinstance(figures, LatencyFigures) else {}
    if isinstance(figures, RateFigures):
        extra = {"per_second": figures.per_second}
    return asdict(figures) | extra


def print_report(report: dict[str, Any]) -> None:
    backend = report["backend"]
    if "persist" in report:
        print_figures(backend, report["persist"])
    if "queries" in report:
        print_queries(backend, report["queries"])
        print_rebuilds(backend, report["rebuilds"])


def print_queries(backend: str, queries: list[QueryFigures]) -> None:
    table = Table(title=f"stats query latency on {backend} (pre-aggregated counters)")
    for column in ("history (messages)", "query", "p50 ms", "p99 ms"):
        table.add_column(column, justify="left" if column == "query" else "right")
    for q in queries:
        table.add_row(f"{q.history:,}", q.query, f"{q.p50_ms:.3f}", f"{q.p99_ms:.3f}")
    Console().print(table)


def print_rebuilds(backend: str, rebuilds: dict[int, list[RateFigures]]) -> None:
    table = Table(title=f"rebuild, verify and export on {backend} beside the raw read rate")
    for column in ("history", "operation", "events", "events/s", "of raw", "memory growth MB"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    for size, figures in rebuilds.items():
        raw = figures[0].per_second
        for f in figures:
            share = f"{f.per_second / raw:.0%}" if raw else "-"
            table.add_row(f"{size:,}", f.operation, f"{f.events:,}", f"{f.per_second:,.0f}", share,
                          f"{f.memory_mb:.1f}")  # fmt: skip
    Console().print(table)


def print_figures(backend: Backend, results: list[LatencyFigures]) -> None:
    table = Table(title=f"persist latency on {backend} (one client)")
    for column in ("operation", "p50 ms", "p99 ms", "per s", "raw save p50 ms", "ratio"):
        table.add_column(column, justify="right" if column != "operation" else "left")
    for r in results:
        table.add_row(r.operation, f"{r.p50_ms:.3f}", f"{r.p99_ms:.3f}", f"{r.per_second:,.0f}",
                      f"{r.raw_p50_ms:.3f}" if r.raw_p50_ms else "-", f"{r.ratio}x")  # fmt: skip
    Console().print(table)
