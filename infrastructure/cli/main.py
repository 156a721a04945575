"""The `chatledger` command line: tables for people, --json for scripts, exit codes to trust.

Exit codes: 0 everything recorded (or already there), 1 some records failed, 2 usage error,
3 the database could not be opened or the settings are wrong.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from chatledger.domain.chain import find_broken_link
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.cli.audit import audit
from chatledger.infrastructure.cli.bench import bench
from chatledger.infrastructure.cli.common import (
    DatabaseOption,
    JsonOption,
    VerboseOption,
    command_settings,
    console,
    errors,
    opened_pipeline,
    opened_read_side,
)
from chatledger.infrastructure.cli.erasure import erase_user
from chatledger.infrastructure.cli.integrity import register_integrity_commands
from chatledger.infrastructure.cli.keys import keys_app
from chatledger.infrastructure.cli.read import print_stats, register_read_commands
from chatledger.infrastructure.cli.serve import serve
from chatledger.infrastructure.ingest.conversations import (
    Conversation,
    count_lines,
    default_data_file,
    generate_conversations,
    read_conversations,
)
from chatledger.infrastructure.ingest.ingestor import Ingestor, IngestTotals
from chatledger.infrastructure.ingest.processes import (
    IngestJob,
    WorkersFailedError,
    ingest_in_processes,
)
from chatledger.infrastructure.settings import describe_database

DEMO_USER = "demo-user"
# No local variables in tracebacks: they would print database URLs with passwords, and content.
app = typer.Typer(
    help=__doc__, no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False
)


def ingest_with_progress(
    ingestor: Ingestor, items: list[Conversation] | Path, quiet: bool
) -> IngestTotals:
    source = read_conversations(items) if isinstance(items, Path) else items
    totals = IngestTotals()
    return shown_progress(ingestor.ingest(source, totals), lines_of(items), quiet) or totals


def lines_of(items: list[Conversation] | Path) -> int:
    return count_lines(items) if isinstance(items, Path) else len(items)


def shown_progress(running: Iterator[IngestTotals], lines: int, quiet: bool) -> IngestTotals | None:
    """A progress bar over the lines of the input as their totals come in; the last totals."""
    totals = None
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]} msg/s"), TimeRemainingColumn())  # fmt: skip
    # Redrawn from here, at most ten times a second, not by a thread of its own: `--workers`
    # forks its processes only where no other thread runs (infrastructure/forking.py).
    console = Console(stderr=True)
    with Progress(*columns, console=console, disable=quiet, auto_refresh=False) as progress:
        task = progress.add_task("ingesting", total=lines, rate="-")
        drawn = 0.0
        for totals in running:
            elapsed = progress.tasks[task].elapsed or 0.0
            rate = f"{totals.messages / elapsed:,.0f}" if elapsed > 0 else "-"
            redraw = elapsed - drawn >= 0.1
            progress.update(task, advance=1, rate=rate, refresh=redraw)
            drawn = elapsed if redraw else drawn
        progress.refresh()
    return totals


def totals_document(totals: IngestTotals) -> dict[str, Any]:
    return {
        "conversations": totals.conversations,
        "recorded": totals.recorded,
        "duplicates": totals.duplicates,
        "failed": totals.failed,
        "error_codes": dict(totals.error_codes),
        "unreadable_lines": totals.unreadable_lines,
        "gen_ai.usage.tokens": totals.tokens,
    }


def print_totals(title: str, totals: IngestTotals) -> None:
    table = Table(title=title, show_header=False)
    for key, value in totals_document(totals).items():
        table.add_row(key, str(value))
    console.print(table)


@app.command()
def ingest(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help="Conversations, one JSON object per line."
        ),
    ],
    user_id: Annotated[str, typer.Option(help="Owner of the ingested chats.")] = "ingest",
    stream: Annotated[bool, typer.Option(help="Record assistant replies as streams.")] = False,
    clients: Annotated[
        int,
        typer.Option(
            min=1, max=64, help="Conversations recorded at once; their transactions share commits."
        ),
    ] = 4,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Processes that record at once, each every N-th line (one per core is best "
            "for big files: the work per message is Python, one core per process).",
        ),
    ] = 1,
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Ingest conversations (the ../shared/data format); running it again records nothing new."""
    if workers > 1:
        job = IngestJob(command_settings(database_url, verbose), file, user_id, workers,
                        stream_replies=stream, clients=clients)  # fmt: skip
        totals, problems = IngestTotals(), []
        try:
            shown_progress(ingest_in_processes(job, totals), lines_of(file), quiet=as_json)
        except WorkersFailedError as failure:
            for problem in failure.problems:
                errors.print(f"[red]{problem}[/red]; run the ingest again to record the rest")
            if failure.database_unusable:
                raise typer.Exit(3) from None
            problems = failure.problems
        report(totals, as_json, f"ingested {file.name}", problems)
        return
    with opened_pipeline(database_url, verbose) as (pipeline, _):
        ingestor = Ingestor(pipeline, user_id=user_id, stream_replies=stream, clients=clients)
        totals = ingest_with_progress(ingestor, file, quiet=as_json)
    report(totals, as_json, f"ingested {file.name}")


def report(
    totals: IngestTotals, as_json: bool, title: str, problems: list[str] | None = None
) -> None:
    """The totals; exit 1 when anything was not recorded (failed, unreadable, or a worker's
    share left unfinished: `problems`)."""
    if as_json:
        print(json.dumps(totals_document(totals) | ({"problems": problems} if problems else {})))
    else:
        print_totals(title, totals)
    if totals.failed or totals.unreadable_lines or problems:
        raise typer.Exit(1)


@app.command()
def demo(
    conversations: Annotated[
        int, typer.Option(min=1, help="How many conversations to ingest.")
    ] = 20,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Conversations file (default: the shared data set, else generated ones)."
        ),
    ] = None,
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """The main job: ingest conversations through the pipeline on the embedded default (SQLite),
    assistant replies streamed in chunks, then show what was recorded, check every chain, and
    show the statistics the read models derived from the events."""
    path = data or default_data_file()
    chosen = _first(path, conversations) if path else generate_conversations(conversations)
    chat_ids = [c.conversation_id for c in chosen]
    with opened_read_side(database_url, verbose) as (read_side, settings):
        pipeline = read_side.pipeline
        totals = ingest_with_progress(
            Ingestor(pipeline, user_id=DEMO_USER, stream_replies=True), chosen, quiet=as_json
        )
        timeline = recorded_timeline(pipeline, chat_ids)
        links = (find_broken_link(chat_id, pipeline.events.get(chat_id)) for chat_id in chat_ids)
        broken = [link for link in links if link]
        stats = read_side.get_message_persistence_stats(DEMO_USER).stats
        where = describe_database(settings)
    if as_json:
        document = totals_document(totals) | {
            "database": where,
            "broken_chains": len(broken),
            "events": timeline,
            "stats": stats.model_dump() if stats else None,
        }
        print(json.dumps(document, default=str))
    else:
        console.print(f"database: {where}   source: {path or 'generated conversations'}")
        print_timeline(timeline)
        print_totals("recorded", totals)
        if stats:
            print_stats(stats.model_dump())
        console.print(f"hash chains: {len(chosen) - len(broken)} of {len(chosen)} intact")
    if broken or totals.failed:
        raise typer.Exit(1)


def _first(path: Path, count: int) -> list[Conversation]:
    chosen: list[Conversation] = []
    for item in read_conversations(path):
        if isinstance(item, Conversation):
            chosen.append(item)
        if len(chosen) == count:
            break
    return chosen


def recorded_timeline(pipeline: PersistencePipeline, chat_ids: list[str]) -> list[dict[str, Any]]:
    return [
        timeline_row(chat_id, vars(event) | {"event_type": type(event).__name__})
        for chat_id in chat_ids
        for event in pipeline.events.get(chat_id)
    ]


def timeline_row(chat_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """What a person scanning the audit trail wants per event (no content)."""
    tokens = fields.get("tokens") or {}
    return {
        "chat_id": chat_id,
        "version": fields["originator_version"],
        "event": fields["event_type"].removesuffix("Recorded"),
        "message_id": fields.get("message_id", ""),
        "intent": (fields.get("intent") or {}).get("name", ""),
        "tokens": tokens.get("count", ""),
        "encoding": tokens.get("encoding", ""),
        "chunks": fields.get("chunk_count", ""),
        "first_chunk_ms": fields.get("first_chunk_ms", ""),
        "hash": fields["hash"][:8],
    }


def print_timeline(rows: list[dict[str, Any]], chats: int = 2) -> None:
    """The event timeline of the first chats, one table per chat."""
    chat_ids = list(dict.fromkeys(row["chat_id"] for row in rows))[:chats]
    columns = {"version": "v", "event": "event", "intent": "intent", "tokens": "tokens",
               "chunks": "chunks", "first_chunk_ms": "ttfc ms", "hash": "hash"}  # fmt: skip
    for chat_id in chat_ids:
        table = Table(title=f"chat {chat_id}", title_justify="left")
        for heading in columns.values():
            table.add_column(heading, no_wrap=True, min_width=max(2, len(heading)))
        for row in (r for r in rows if r["chat_id"] == chat_id):
            table.add_row(*(str(row[key]) for key in columns))
        console.print(table)


def show_version(asked: bool) -> None:
    if asked:
        print(f"chatledger {version('chatledger')}")
        raise typer.Exit()


@app.callback()
def options(
    show: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=show_version,
            is_eager=True,
            help="Print the installed version and exit.",
        ),
    ] = False,
) -> None:
    """ChatLedger's command line."""


app.command()(bench)
app.command()(audit)
app.command()(serve)
app.command("erase-user")(erase_user)
app.add_typer(keys_app, name="keys")
register_read_commands(app)
register_integrity_commands(app)


def main() -> None:
    app()
