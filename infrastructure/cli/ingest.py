"""`chatledger ingest`: conversation files, pipes and standard input through the pipeline, with
a progress bar for people, the totals as JSON for scripts, and the messages not recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from chatledger.infrastructure.cli.common import (
    DatabaseOption,
    JsonOption,
    VerboseOption,
    command_settings,
    console,
    errors,
    opened_pipeline,
)
from chatledger.infrastructure.cli.literal_console import alert
from chatledger.infrastructure.ingest.conversations import (
    STDIN,
    Conversation,
    count_lines,
    read_conversations,
)
from chatledger.infrastructure.ingest.formats import Format
from chatledger.infrastructure.ingest.ingestor import Ingestor, IngestTotals
from chatledger.infrastructure.ingest.processes import (
    IngestJob,
    WorkersFailedError,
    ingest_in_processes,
)


def ingest_with_progress(
    ingestor: Ingestor, items: list[Conversation] | Path, quiet: bool, format_name: str = "auto"
) -> IngestTotals:
    source = read_conversations(items, format_name) if isinstance(items, Path) else items
    totals = IngestTotals()
    return shown_progress(ingestor.ingest(source, totals), lines_of(items), quiet) or totals


def lines_of(items: list[Conversation] | Path) -> int | None:
    """The progress bar's total; none for input that can be read only once (a pipe)."""
    return count_lines(items) if isinstance(items, Path) else len(items)


def shown_progress(
    running: Iterator[IngestTotals], lines: int | None, quiet: bool
) -> IngestTotals | None:
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


MAX_LISTED_FAILURES = 1000  # the count says how many there were in all


def totals_document(totals: IngestTotals) -> dict[str, Any]:
    return {
        "conversations": totals.conversations,
        "recorded": totals.recorded,
        "duplicates": totals.duplicates,
        "failed": totals.failed,
        "error_codes": dict(totals.error_codes),
        "unreadable_lines": totals.unreadable_lines,
        "tokens": totals.tokens,  # ChatLedger's own tiktoken count of what was recorded
        "failures": [{"line": line, "turn": turn, "code": code, "reason": reason}
                     for line, turn, code, reason in totals.failures[:MAX_LISTED_FAILURES]],
    }  # fmt: skip


def print_totals(title: str, totals: IngestTotals) -> None:
    table = Table(title=title, show_header=False)
    for key, value in totals_document(totals).items():
        if key != "failures":
            table.add_row(key, str(value))
    console.print(table)
    if totals.failures:
        failed = Table("line", "turn", "code", "reason", title="messages not recorded",
                       title_justify="left")  # fmt: skip
        for line, turn, code, reason in totals.failures[:20]:
            failed.add_row(str(line), str(turn), code, Text(reason))  # text, not markup
        console.print(failed)
        if len(totals.failures) > 20:
            console.print(f"... and {len(totals.failures) - 20} more (--json lists them)")


def ingest(
    file: Annotated[
        Path,
        typer.Argument(
            dir_okay=False,
            help="Conversations, one JSON object per line; - reads standard input (a pipe or "
            "FIFO is read once, as it comes).",
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
    format_name: Annotated[
        Format, typer.Option("--format", help="The lines' format; auto: from the first line.")
    ] = Format.auto,
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Ingest conversations: ChatLedger's own lines ({"conversation_id": ..., "messages":
    [...]}), OpenAI chat-format lines ({"messages": [...]}, every role, tool calls, parts) or
    ShareGPT lines ({"conversations": [...]}). Every turn keeps its role; one that cannot be
    recorded is reported on its own (line, turn, code) and the others are recorded. Running it
    again records nothing new."""
    if file != STDIN and not file.is_file() and not file.is_fifo() and not file.is_char_device():
        errors.print(alert("no such file:"), str(file), highlight=False)
        raise typer.Exit(3)
    if workers > 1:
        if count_lines(file) is None:
            errors.print("--workers splits a file by its lines: give a file, not - or a pipe")
            raise typer.Exit(2)
        job = IngestJob(command_settings(database_url, verbose), file, user_id, workers,
                        stream_replies=stream, clients=clients,
                        format_name=format_name.value)  # fmt: skip
        totals, problems = IngestTotals(), []
        try:
            shown_progress(ingest_in_processes(job, totals), lines_of(file), quiet=as_json)
        except WorkersFailedError as failure:
            for problem in failure.problems:
                errors.print(alert(problem), "; run the ingest again to record the rest", sep="")
            if failure.database_unusable:
                raise typer.Exit(3) from None
            problems = failure.problems
        report(totals, as_json, f"ingested {file.name}", problems)
        return
    with opened_pipeline(database_url, verbose) as (pipeline, _):
        ingestor = Ingestor(pipeline, user_id=user_id, stream_replies=stream, clients=clients)
        totals = ingest_with_progress(ingestor, file, quiet=as_json, format_name=format_name)
    report(totals, as_json, "ingested " + ("standard input" if file == STDIN else file.name))


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
