"""The benchmarks of `chatledger bench`, phase by phase on a throwaway database, and their report.
Loaded by that command only: nothing else imports the bench package."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.bench.bulk import (
    IngestBenchmark,
    IngestFigures,
    ReplayBenchmark,
    ReplayFigures,
    peak_rss_mb,
)
from chatledger.infrastructure.bench.clients import ClientFigures, ClientsBenchmark
from chatledger.infrastructure.bench.console import ConsoleBenchmark, PageFigures
from chatledger.infrastructure.bench.encryption import (
    EncryptionBenchmark,
    EncryptionFigures,
    print_encryption,
)
from chatledger.infrastructure.bench.http_api import HttpBenchmark, HttpFigures
from chatledger.infrastructure.bench.persist import LatencyFigures, PersistBenchmark, RawApplication
from chatledger.infrastructure.bench.read import QueryFigures, RateFigures, ReadSideBenchmark
from chatledger.infrastructure.bench.sdk_calls import SdkBenchmark, SdkCallFigures
from chatledger.infrastructure.bootstrap import bootstrap, build_read_side
from chatledger.infrastructure.ingest.conversations import (
    Conversation,
    default_data_file,
    generate_conversations,
    read_conversations,
)
from chatledger.infrastructure.observability.structured_logging import configure_logging
from chatledger.infrastructure.settings import Settings, eventsourcing_env


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
                (prompts if turn["role"] == "user" else replies).append(turn["content"])
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


def run_benchmarks(
    backend: Backend,
    database_url: str | None,
    messages: int,
    ingest_messages: int,
    replay_events: int,
    history: str,
    only: str | None,
    as_json: bool,
    http_workers: int = 1,
    console_messages: int = 100_000,
) -> None:
    """Measure ChatLedger beside the raw layers underneath, in one run on a throwaway database:
    persist latency beside a raw eventsourcing save of an event of the same size; throughput of
    1, 4 and 16 concurrent clients beside raw saves; bulk ingest beside raw bulk saves; replay
    of a 10,000-event chat; stats query latency at growing history; projection rebuild rate
    beside the raw read rate of the log; persists over HTTP (`chatledger serve` in its own
    process) with 1, 4 and 16 clients beside the same in process; peak memory after each phase."""
    console = Console(stderr=True)
    sizes = [int(size) for size in history.split(",") if size.strip()]
    prompts, replies = workload(messages)
    report: dict[str, Any] = {"backend": backend.value}
    with throwaway_database(backend, database_url) as url:
        settings = Settings(database_url=url, log_level="warning")
        configure_logging(settings.log_format, settings.log_level)
        pipeline = bootstrap(settings)
        run = Run(backend, url, settings, pipeline, prompts, replies, sizes,
                  messages, ingest_messages, replay_events, http_workers,
                  console_messages)  # fmt: skip
        try:
            for phase, measure in PHASES.items():
                if only in (None, phase):
                    # A line, not a spinner: a spinner's thread would take CPU from what is
                    # measured, and keep rebuilds from forking their workers.
                    console.print(f"{phase} on {backend} ...", highlight=False)
                    report[phase] = measure(run)
                    report.setdefault("peak_rss_mb", {})[phase] = peak_rss_mb()
        finally:
            pipeline.close()
    if as_json:
        print(json.dumps(report, default=_as_dict))
    else:
        print_report(report)


@dataclass(frozen=True)
class Run:
    """What every phase of one benchmark run shares."""

    backend: Backend
    url: str
    settings: Settings
    pipeline: PersistencePipeline
    prompts: list[str]
    replies: list[str]
    history: list[int]
    messages: int
    ingest_messages: int
    replay_events: int
    http_workers: int = 1
    console_messages: int = 100_000


def persist_phase(run: Run) -> list[LatencyFigures]:
    with raw_application(run.backend, run.url) as raw:
        return PersistBenchmark(run.pipeline, raw, run.prompts, run.replies).run()


def encryption_phase(run: Run) -> EncryptionFigures:
    return EncryptionBenchmark(run.pipeline, run.prompts).run()


def clients_phase(run: Run) -> list[ClientFigures]:
    with raw_application(run.backend, run.url) as raw:
        return ClientsBenchmark(run.pipeline, raw, run.prompts).run([1, 4, 16], run.messages)


def ingest_phase(run: Run) -> list[IngestFigures]:
    path = default_data_file()
    items = read_conversations(path) if path else iter(generate_conversations(run.ingest_messages))
    conversations: list[Conversation] = []
    for item in items:
        if isinstance(item, Conversation):
            conversations.append(item)
            if sum(len(c.messages) for c in conversations) >= run.ingest_messages:
                break
    with raw_application(run.backend, run.url) as raw:
        workers = os.cpu_count() or 1
        return IngestBenchmark(run.pipeline, run.settings, raw, conversations, workers).run()


def replay_phase(run: Run) -> list[ReplayFigures]:
    with closing(build_read_side(run.settings, run.pipeline, catch_up_on_read=False)) as side:
        return ReplayBenchmark(run.pipeline, side, run.prompts, run.replay_events).run()


def read_phase(run: Run) -> dict[str, Any]:
    with closing(build_read_side(run.settings, run.pipeline, catch_up_on_read=False)) as side:
        queries, rebuilds = ReadSideBenchmark(run.pipeline, side, run.prompts + run.replies).run(
            run.history
        )
    return {"queries": queries, "rebuilds": rebuilds}


def http_phase(run: Run) -> list[HttpFigures]:
    return HttpBenchmark(run.pipeline, run.settings, run.prompts, run.http_workers).run(
        [1, 4, 16], run.messages
    )


def sdk_phase(run: Run) -> list[SdkCallFigures]:
    return SdkBenchmark(run.settings, calls=min(run.messages, 300)).run()


def console_phase(run: Run) -> list[PageFigures]:
    return ConsoleBenchmark(run.pipeline, run.settings, run.console_messages, run.prompts,
                            run.replies).run()  # fmt: skip


# The phases by the names `--only` takes (cli/bench.py lists them for its option), in order.
PHASES: dict[str, Callable[[Run], Any]] = {
    "persist": persist_phase,
    "encryption": encryption_phase,
    "clients": clients_phase,
    "ingest": ingest_phase,
    "replay": replay_phase,
    "read": read_phase,
    "http": http_phase,
    "sdk": sdk_phase,
    "console": console_phase,
}


def _as_dict(figures: Any) -> dict[str, Any]:
    has_ratio = isinstance(figures, LatencyFigures | ClientFigures | IngestFigures | HttpFigures)
    extra = {"ratio": figures.ratio} if has_ratio else {}
    if isinstance(figures, SdkCallFigures):
        extra = {"added_p50_ms": figures.added_p50_ms}
    if isinstance(figures, RateFigures):
        extra = {"per_second": figures.per_second,
                 "slowest_per_second": figures.slowest_per_second}  # fmt: skip
    if isinstance(figures, EncryptionFigures):
        extra = {"cost_percent": figures.cost_percent}
    return asdict(figures) | extra


def print_report(report: dict[str, Any]) -> None:
    backend = report["backend"]
    if "persist" in report:
        print_figures(backend, report["persist"])
    if "encryption" in report:
        print_encryption(backend, report["encryption"])
    if "clients" in report:
        print_clients(backend, report["clients"])
    if "ingest" in report:
        print_ingest(backend, report["ingest"])
    if "replay" in report:
        print_replays(backend, report["replay"])
    if "read" in report:
        print_queries(backend, report["read"]["queries"])
        print_rebuilds(backend, report["read"]["rebuilds"])
    if "http" in report:
        print_http(backend, report["http"])
    if "sdk" in report:
        print_sdk(backend, report["sdk"])
    if "console" in report:
        print_console(backend, report["console"])
    table = Table(title="peak resident memory of the process after each phase")
    table.add_column("phase")
    table.add_column("peak RSS", justify="right")
    for phase, megabytes in report["peak_rss_mb"].items():
        table.add_row(phase, f"{megabytes:,.1f} MB")
    Console().print(table)


def print_clients(backend: str, clients: list[ClientFigures]) -> None:
    table = Table(title=f"concurrent clients on {backend} (threads, one chat each; group commit)")
    for column in ("clients", "messages", "msg/s", "p50 ms", "p99 ms", "raw saves/s", "ratio"):
        table.add_column(column, justify="right")
    for c in clients:
        table.add_row(str(c.clients), f"{c.messages:,}", f"{c.per_second:,.0f}", f"{c.p50_ms:.3f}",
                      f"{c.p99_ms:.3f}", f"{c.raw_per_second:,.0f}", f"{c.ratio}x")  # fmt: skip
    Console().print(table)


def print_http(backend: str, figures: list[HttpFigures]) -> None:
    table = Table(title=f"persist over HTTP on {backend} (chatledger serve; client threads)")
    for column in ("clients", "messages", "req/s", "p50 ms", "p99 ms", "in-process msg/s",
                   "in-process p99 ms", "HTTP / in-process"):  # fmt: skip
        table.add_column(column, justify="right")
    for f in figures:
        table.add_row(str(f.clients), f"{f.messages:,}", f"{f.per_second:,.0f}", f"{f.p50_ms:.3f}",
                      f"{f.p99_ms:.3f}", f"{f.in_process_per_second:,.0f}",
                      f"{f.in_process_p99_ms:.3f}", f"{f.ratio}x")  # fmt: skip
    Console().print(table)


def print_sdk(backend: str, figures: list[SdkCallFigures]) -> None:
    table = Table(title=f"model calls through the SDK drop-ins on {backend} (local model server; "
                        "bare and recorded calls alternate)")  # fmt: skip
    for column in ("SDK", "call", "calls", "bare p50 ms", "bare p99 ms", "recorded p50 ms",
                   "recorded p99 ms", "added p50 ms", "chunks", "per chunk us"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("SDK", "call") else "right")
    for f in figures:
        table.add_row(f.provider, f.mode, str(f.calls), f"{f.bare_p50_ms:.3f}",
                      f"{f.bare_p99_ms:.3f}", f"{f.recorded_p50_ms:.3f}",
                      f"{f.recorded_p99_ms:.3f}", f"{f.added_p50_ms:.3f}",
                      str(f.chunks_per_call), f"{f.per_chunk_us:.2f}")  # fmt: skip
    Console().print(table)


def print_console(backend: str, figures: list[PageFigures]) -> None:
    table = Table(title=f"console pages on {backend} (chatledger serve, an auditor's requests)")
    for column in ("page", "messages recorded", "samples", "p50 ms", "p95 ms"):
        table.add_column(column, justify="left" if column == "page" else "right")
    for f in figures:
        table.add_row(f.page, f"{f.messages:,}", str(f.samples), f"{f.p50_ms:.1f}",
                      f"{f.p95_ms:.1f}")  # fmt: skip
    Console().print(table)


def print_ingest(backend: str, figures: list[IngestFigures]) -> None:
    table = Table(title=f"bulk ingest on {backend} (windows of 500 messages per transaction)")
    for column in ("processes", "clients each", "conversations", "messages", "msg/s",
                   "raw bulk saves events/s", "raw / ours"):  # fmt: skip
        table.add_column(column, justify="right")
    for f in figures:
        table.add_row(str(f.workers), str(f.clients), f"{f.conversations:,}",
                      f"{f.messages:,}", f"{f.per_second:,.0f}", f"{f.raw_per_second:,.0f}",
                      f"{f.ratio}x")  # fmt: skip
    Console().print(table)


def print_replays(backend: str, replays: list[ReplayFigures]) -> None:
    table = Table(title=f"replay of one long chat on {backend} (from its events alone)")
    for column in ("operation", "events", "p50 ms", "events/s"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    for r in replays:
        table.add_row(
            r.operation, f"{r.events:,}", f"{r.p50_ms:,.1f}", f"{r.events_per_second:,.0f}"
        )
    Console().print(table)


def print_queries(backend: str, queries: list[QueryFigures]) -> None:
    table = Table(title=f"stats query latency on {backend} (pre-aggregated counters)")
    for column in ("history (messages)", "query", "p50 ms", "p99 ms"):
        table.add_column(column, justify="left" if column == "query" else "right")
    for q in queries:
        table.add_row(f"{q.history:,}", q.query, f"{q.p50_ms:.3f}", f"{q.p99_ms:.3f}")
    Console().print(table)


def print_rebuilds(backend: str, rebuilds: dict[int, list[RateFigures]]) -> None:
    table = Table(title=f"rebuild, verify and export on {backend} beside the raw read rate "
                        "(events/s: the median of the runs)")  # fmt: skip
    for column in ("history", "operation", "events", "runs", "events/s", "slowest", "of raw",
                   "memory growth MB"):  # fmt: skip
        table.add_column(column, justify="left" if column == "operation" else "right")
    for size, figures in rebuilds.items():
        raw = figures[0].per_second
        for f in figures:
            share = f"{f.per_second / raw:.0%}" if raw else "-"
            table.add_row(f"{size:,}", f.operation, f"{f.events:,}", str(f.runs),
                          f"{f.per_second:,.0f}", f"{f.slowest_per_second:,.0f}", share,
                          f"{f.memory_mb:.1f}")  # fmt: skip
    Console().print(table)


def print_figures(backend: Backend, results: list[LatencyFigures]) -> None:
    table = Table(title=f"persist latency on {backend} (one client)")
    columns = ("operation", "p50 ms", "p99 ms", "per s", "raw save p50 ms", "ratio",
               "work ms", "store ms")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="right" if column != "operation" else "left")
    for r in results:
        table.add_row(r.operation, f"{r.p50_ms:.3f}", f"{r.p99_ms:.3f}", f"{r.per_second:,.0f}",
                      f"{r.raw_p50_ms:.3f}" if r.raw_p50_ms else "-", f"{r.ratio}x",
                      f"{r.work_ms:.3f}" if r.work_ms is not None else "-",
                      f"{r.store_ms:.3f}" if r.store_ms is not None else "-")  # fmt: skip
    Console().print(table)
    Console().print("work: validation, intent, tokens, hashing, logging (mean per call); "
                    "store: encoding and saving the events (mean per call)")  # fmt: skip
