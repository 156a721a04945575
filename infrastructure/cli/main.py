"""The `chatledger` command line: tables for people, --json for scripts, exit codes to trust.

Exit codes: 0 everything recorded (or already there) and intact, 1 some records failed, a chain
is broken or an event cannot be read, 2 usage error, 3 the database or a file the command needs
could not be opened, read or written, or the settings are wrong.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from chatledger.domain.chain import find_broken_link
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.cli.audit import audit
from chatledger.infrastructure.cli.bench import bench
from chatledger.infrastructure.cli.common import (
    DatabaseOption,
    JsonOption,
    VerboseOption,
    console,
    opened_read_side,
)
from chatledger.infrastructure.cli.erasure import erase_user
from chatledger.infrastructure.cli.failures import FailureMappingGroup
from chatledger.infrastructure.cli.ingest import (
    ingest,
    ingest_with_progress,
    print_totals,
    totals_document,
)
from chatledger.infrastructure.cli.integrity import register_integrity_commands
from chatledger.infrastructure.cli.keys import keys_app
from chatledger.infrastructure.cli.otel import otel_export
from chatledger.infrastructure.cli.proof import register_proof_commands
from chatledger.infrastructure.cli.read import print_stats, register_read_commands
from chatledger.infrastructure.cli.serve import serve
from chatledger.infrastructure.ingest.conversations import (
    Conversation,
    default_data_file,
    generate_conversations,
    read_conversations,
)
from chatledger.infrastructure.ingest.ingestor import Ingestor
from chatledger.infrastructure.settings import describe_database

DEMO_USER = "demo-user"


# No local variables in tracebacks: they would print database URLs with passwords, and content.
app = typer.Typer(
    cls=FailureMappingGroup,
    help=__doc__,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_show_locals=False,
)


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


app.command()(ingest)
app.command()(bench)
app.command()(audit)
app.command()(serve)
app.command("erase-user")(erase_user)
app.command("otel-export")(otel_export)
app.add_typer(keys_app, name="keys")
register_read_commands(app)
register_integrity_commands(app)
register_proof_commands(app)


def main() -> None:
    app()
