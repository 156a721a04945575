"""`chatledger audit`: find events by user, chat, message, type and time; a table for people,
JSONL or CSV for export, streamed in event order in constant memory."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from chatledger.domain.boundary import validate
from chatledger.domain.errors import ChatLedgerError
from chatledger.domain.event_types import EVENT_TYPES
from chatledger.domain.query_bounds import INSTANT_FORM
from chatledger.infrastructure.cli.common import (
    DatabaseOption,
    JsonOption,
    console,
    opened_read_side,
    print_warnings,
)
from chatledger.infrastructure.cli.option_types import (
    parse_event_type,
    parse_instant,
    parse_limit,
    usage_error,
)
from chatledger.projections.audit_export import CSV_COLUMNS, csv_row
from chatledger.projections.quarantine import DamagedChat
from chatledger.projections.read_side import AuditFilterInput, AuditTrailResult
from chatledger.projections.views import AuditFilter

OPTIONS = {"user_id": "--user", "chat_id": "--chat", "message_id": "--message",
           "event_types": "--event-type", "since": "--since", "until": "--until"}  # fmt: skip


class Format(StrEnum):
    table = "table"
    jsonl = "jsonl"
    csv = "csv"


@contextmanager
def destination(output: Path | None) -> Iterator[TextIO]:
    if output is None:
        yield sys.stdout
        return
    with output.open("w", encoding="utf-8", newline="") as file:
        yield file


def write_jsonl(records: Iterable[dict[str, Any]], out: TextIO) -> None:
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")


def write_csv(records: Iterable[dict[str, Any]], out: TextIO) -> None:
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_row(record) for record in records)


def counted(
    records: Iterable[dict[str, Any]], progress: Progress, total: int
) -> Iterator[dict[str, Any]]:
    task = progress.add_task("exporting", total=total)
    count = 0
    for count, record in enumerate(records, start=1):
        if count % 500 == 0:
            progress.update(task, completed=count)
        yield record
    progress.update(task, completed=count)


def audit(
    user_id: Annotated[
        str | None, typer.Option("--user", help="Events of this user's chats.")
    ] = None,
    chat_id: Annotated[str | None, typer.Option("--chat", help="Events of this chat.")] = None,
    message_id: Annotated[
        str | None, typer.Option("--message", help="Events of this message id.")
    ] = None,
    event_types: Annotated[
        list[str] | None,
        typer.Option(
            "--event-type",
            parser=parse_event_type,
            help=(
                f"One of {', '.join(EVENT_TYPES)} (any case, `Chat.` before it or not); repeatable."
            ),
        ),
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(parser=parse_instant, help=f"From this time on (inclusive), {INSTANT_FORM}."),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(parser=parse_instant, help=f"Before this time (exclusive), {INSTANT_FORM}."),
    ] = None,
    output_format: Annotated[
        Format, typer.Option("--format", help="table, jsonl or csv.")
    ] = Format.table,
    output: Annotated[
        Path | None, typer.Option(help="Write the export to this file (default: stdout).")
    ] = None,
    with_content: Annotated[
        bool, typer.Option("--with-content", help="Include message content.")
    ] = False,
    limit: Annotated[
        int, typer.Option(parser=parse_limit, help="Records of the table and of --json.")
    ] = 50,
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compliance queries over the audit index, in event order: position, time, chat, user,
    event type, the recorded fields and the event hash; content only with --with-content.
    --json prints the table's records as one JSON document (an export is --format jsonl)."""
    if as_json and output_format is not Format.table:
        raise typer.BadParameter("--json prints the table's records; leave --format out",
                                 param_hint="'--json'")  # fmt: skip
    where = audit_filter(
        user_id=user_id, chat_id=chat_id, message_id=message_id,
        event_types=list(event_types or ()), since=since, until=until,
    )  # fmt: skip
    with opened_read_side(database_url) as (read_side, _):
        records = read_side.audit_records(where, with_content=with_content)
        damaged = read_side.damaged_chats(where)
        if as_json:
            print(first_records(records, limit, damaged).model_dump_json())
            return
        print_warnings([chat.warning() for chat in damaged])
        if output_format is Format.table:
            print_table(list(islice(records, limit)), limit)
            return
        total = read_side.audit.count(where)  # the index was caught up by audit_records
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TimeRemainingColumn())  # fmt: skip
        with (
            Progress(*columns, console=Console(stderr=True)) as progress,
            destination(output) as out,
        ):
            write = write_jsonl if output_format is Format.jsonl else write_csv
            write(counted(records, progress, total), out)


def first_records(
    records: Iterable[dict[str, Any]], limit: int, damaged: list[DamagedChat]
) -> AuditTrailResult:
    """The first `limit` records, as the Python API's audit_trail() answers a page."""
    shown = list(islice(records, limit))
    following = shown[-1]["position"] if len(shown) == limit else None
    return AuditTrailResult(success=True, records=shown, next_position=following,
                            damaged_chats=damaged,
                            warnings=[chat.warning() for chat in damaged])  # fmt: skip


def audit_filter(**fields: Any) -> AuditFilter:
    """The filter, validated: ids, event types and times only (exit 2 naming the option)."""
    given = {name: value for name, value in fields.items() if value not in (None, [])}
    try:
        return validate(AuditFilterInput, **given).to_filter()
    except ChatLedgerError as error:
        raise usage_error(error.details["errors"], OPTIONS) from None


def print_table(records: list[dict[str, Any]], limit: int) -> None:
    table = Table(
        title=f"audit trail (first {limit} events)" if len(records) == limit else "audit trail"
    )
    for column in ("position", "time", "chat", "user", "event", "message", "v", "hash"):
        table.add_column(column, overflow="fold")
    for r in records:
        cells = (r["position"], r["recorded_at"], r["chat_id"], r["user_id"], r["event_type"],
                 r["message_id"] or "", r["version"], r["hash"][:12])  # fmt: skip
        table.add_row(*(str(cell) for cell in cells))
    console.print(table)
