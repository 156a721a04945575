"""`chatledger bench`: the command; the benchmarks (chatledger.infrastructure.bench) load only
when it runs, so they stay out of every other import path."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer


# The choices as the options show them; the bench package has its own, converted by value.
class BackendChoice(StrEnum):
    sqlite = "sqlite"
    postgres = "postgres"


class PhaseChoice(StrEnum):
    persist = "persist"
    encryption = "encryption"
    clients = "clients"
    ingest = "ingest"
    replay = "replay"
    read = "read"
    http = "http"
    sdk = "sdk"
    console = "console"


def bench(
    backend: Annotated[
        BackendChoice, typer.Option(help="Database to measure.")
    ] = BackendChoice.sqlite,
    database_url: Annotated[
        str | None,
        typer.Option(help="PostgreSQL for --backend postgres (a throwaway schema is made there)."),
    ] = None,
    messages: Annotated[
        int, typer.Option(min=10, help="Messages per persist operation and per client count.")
    ] = 1000,
    ingest_messages: Annotated[
        int, typer.Option(min=10, help="Messages to ingest (whole conversations).")
    ] = 10_240,
    replay_events: Annotated[
        int, typer.Option(min=10, help="Events of the chat that is replayed.")
    ] = 10_000,
    history: Annotated[
        str, typer.Option(help="History sizes (messages of one user) for the read-side figures.")
    ] = "1000,10000,100000",
    only: Annotated[PhaseChoice | None, typer.Option(help="Run one phase only.")] = None,
    http_workers: Annotated[
        int, typer.Option(min=1, max=64, help="Processes of `chatledger serve` (http phase).")
    ] = 1,
    console_messages: Annotated[
        int, typer.Option(min=100, help="Messages recorded before the console's pages are timed.")
    ] = 100_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Measure ChatLedger beside the raw layers underneath, in one run on a throwaway database:
    persist latency beside a raw eventsourcing save of an event of the same size; throughput of
    1, 4 and 16 concurrent clients beside raw saves; bulk ingest beside raw bulk saves; replay
    of a 10,000-event chat; stats query latency at growing history; projection rebuild rate
    beside the raw read rate of the log; persists over HTTP (`chatledger serve` in its own
    process) with 1, 4 and 16 clients beside the same in process; the time the OpenAI and
    Anthropic drop-ins add to a model call (whole and streamed) beside the bare SDK against a
    local model server; p50 and p95 of each console page at 100,000 messages; peak memory
    after each phase.
    Needs the `bench` extra (pip install 'chatledger\\[bench]')."""
    try:
        from chatledger.infrastructure.bench.run import Backend, run_benchmarks
    except ImportError as error:
        typer.echo(f"`bench` needs the bench extra ({error.name} is missing): "
                   "pip install 'chatledger[bench]'", err=True)  # fmt: skip
        raise typer.Exit(2) from None
    run_benchmarks(Backend(backend), database_url, messages, ingest_messages, replay_events,
                   history, only.value if only else None, as_json, http_workers,
                   console_messages)  # fmt: skip
