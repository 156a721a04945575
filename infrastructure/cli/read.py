"""Read-side commands: project (catch up or follow), status, rebuild, stats, replay."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from functools import partial
from types import FrameType
from typing import Annotated, Any

import typer
from eventsourcing.persistence import PersistenceError
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

from chatledger.domain.query_bounds import INSTANT_FORM
from chatledger.domain.unreadable_events import chat_owner
from chatledger.infrastructure.cli.common import (
    DatabaseOption,
    JsonOption,
    VerboseOption,
    console,
    errors,
    opened_read_side,
    print_warnings,
)
from chatledger.infrastructure.cli.literal_console import alert
from chatledger.infrastructure.cli.option_types import parse_instant, parse_version
from chatledger.infrastructure.read_store.following import follow_until_stopped
from chatledger.projections.projections import PROJECTIONS
from chatledger.projections.quarantine import QuarantinedEvent
from chatledger.projections.read_side import ReadSide
from chatledger.projections.runner import ProjectionRunner, ProjectionStatus

OPERATOR = "operator"  # who replays a chat that has no owner to act as


def stop_on_signals(stop: threading.Event) -> None:
    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)


def progress_bar(quiet: bool) -> Progress:
    columns = (TextColumn("{task.description:<9}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]} events/s"), TimeElapsedColumn(),
               TimeRemainingColumn())  # fmt: skip
    # Redrawn on each report rather than by a thread of its own: a rebuild forks its workers
    # only where no other thread runs (infrastructure/rebuild_worker.py).
    return Progress(*columns, console=Console(stderr=True), disable=quiet, auto_refresh=False)


def run_with_progress(
    progress: Progress,
    runner: ProjectionRunner,
    work: Callable[[Callable[[int, int], None]], Any],
    *,
    rebuilding: bool = False,
) -> Any:
    """Run `work(report)` with a bar from where it starts to the log's head."""
    status = runner.status()
    # A rebuild starts from 0, or from where an interrupted one stopped.
    start = (status.building_position or 0) if rebuilding else status.position
    task = progress.add_task(runner.view.name, total=max(1, status.head), completed=0, rate="-")

    def report(position: int, head: int) -> None:
        elapsed = progress.tasks[task].elapsed or 0.0
        rate = f"{(position - start) / elapsed:,.0f}" if elapsed > 0 else "-"
        progress.update(task, completed=position, total=max(1, head), rate=rate, refresh=True)

    result = work(report)
    progress.update(task, completed=max(1, runner.head()), refresh=True)
    return result


def catch_up(runner: ProjectionRunner, report: Callable[[int, int], None]) -> int:
    return runner.catch_up(progress=report)


def status_document(statuses: list[ProjectionStatus]) -> list[dict[str, Any]]:
    return [asdict(s) | {"lag": s.lag} for s in statuses]


def print_status(statuses: list[ProjectionStatus]) -> None:
    table = Table(title="projections")
    columns = ("name", "generation", "position", "head", "lag", "quarantined", "rebuilding")
    for column in columns:
        table.add_column(column, justify="left" if column == "name" else "right")
    for s in statuses:
        rebuilding = f"g{s.building} at {s.building_position}" if s.building else "-"
        table.add_row(s.name, str(s.generation), f"{s.position:,}", f"{s.head:,}", f"{s.lag:,}",
                      f"{s.quarantined:,}", rebuilding)  # fmt: skip
    console.print(table)


def print_quarantine(events: list[QuarantinedEvent]) -> None:
    if not events:
        return
    table = Table(title="quarantined events (unreadable; restore them, then `chatledger rebuild`)")
    for column in ("projection", "position", "chat", "version", "reason"):
        table.add_column(column, overflow="fold")
    for e in events:
        table.add_row(e.projection, str(e.position), e.chat_id, str(e.version), e.reason)
    console.print(table)


def status(database_url: DatabaseOption = None, as_json: JsonOption = False) -> None:
    """Each projection's position, the head of the event log, the lag between them, and the
    events it quarantined (skipped as unreadable: their chats answer as damaged)."""
    with opened_read_side(database_url) as (read_side, _):
        statuses = read_side.status()
        quarantine = read_side.quarantined_events()
    if as_json:
        document = status_document(statuses)
        for entry in document:
            entry["quarantined_events"] = [
                e.as_dict() for e in quarantine if e.projection == entry["name"]
            ]
        print(json.dumps(document))
    else:
        print_status(statuses)
        print_quarantine(quarantine)


def project(
    follow: Annotated[
        bool, typer.Option(help="Keep the views current until stopped (SIGTERM or Ctrl-C).")
    ] = False,
    poll_seconds: Annotated[
        float, typer.Option(min=0.01, help="How often --follow looks for new events.")
    ] = 0.2,
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Apply the events recorded so far to every projection (exactly once, resumable), and with
    --follow keep applying new ones: the process that keeps read models current for writers
    in other processes."""
    stop = threading.Event()
    if follow:  # first of all: a stop request must never kill a batch half-way
        stop_on_signals(stop)
    with opened_read_side(database_url, verbose, catch_up_on_read=False) as (read_side, _):
        if follow:
            if not follow_until_stopped(read_side, poll_seconds, stop):
                raise typer.Exit(1)
        else:
            with progress_bar(as_json) as progress:
                for runner in read_side.runners.values():
                    run_with_progress(progress, runner, partial(catch_up, runner))
        statuses = [] if follow and not as_json else read_side.status()
    if as_json:
        print(json.dumps(status_document(statuses)))
    elif not follow:
        print_status(statuses)


def rebuild(
    names: Annotated[
        list[str] | None,
        typer.Argument(help=f"Projections to rebuild (default: all of {', '.join(PROJECTIONS)})."),
    ] = None,
    restart: Annotated[
        bool, typer.Option(help="Discard an interrupted rebuild instead of resuming it.")
    ] = False,
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Replay the whole log into fresh tables while the current ones keep answering, then
    switch over in one step and drop the old tables. An interrupted rebuild resumes."""
    chosen = names or list(PROJECTIONS)
    unknown = [name for name in chosen if name not in PROJECTIONS]
    if unknown:
        raise typer.BadParameter(
            f"unknown projection(s): {', '.join(unknown)}; known: {', '.join(PROJECTIONS)}"
        )
    with opened_read_side(database_url, catch_up_on_read=False) as (read_side, _):
        with progress_bar(as_json) as progress:
            for name in chosen:
                runner = read_side.runner(name)
                rebuild_one = partial(runner.rebuild, restart=restart)
                run_with_progress(progress, runner, rebuild_one, rebuilding=True)
        statuses = [s for s in read_side.status() if s.name in chosen]
    if as_json:
        print(json.dumps(status_document(statuses)))
    else:
        print_status(statuses)


def stats(
    user_id: Annotated[str, typer.Option("--user", help="Whose statistics.")],
    chat_id: Annotated[
        str | None, typer.Option("--chat", help="Only this chat of the user.")
    ] = None,
    hours: Annotated[
        int | None, typer.Option(help="Only messages of the last N hours (hour-aligned).")
    ] = None,
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Persistence statistics of a user, one of the user's chats, or a user over N hours."""
    with opened_read_side(database_url) as (read_side, _):
        result = read_side.get_message_persistence_stats(user_id, chat_id, hours)
    if as_json:
        print(result.model_dump_json())
    elif result.stats is not None:
        print_stats(result.stats.model_dump())
        print_warnings(result.warnings)
    if result.error is not None:
        if not as_json:
            error = result.error
            errors.print(alert(f"{error.code}:"), f"{error.message}. {error.recovery_hint}")
        raise typer.Exit(1)


def print_stats(figures: dict[str, Any], prefix: str = "") -> None:
    table = Table(
        title=f"statistics of {figures['scope']}" if not prefix else None, show_header=False
    )
    for key, value in _flatten(figures):
        table.add_row(key, str(value))
    console.print(table)


DISTRIBUTIONS = ("messages_by_role", "messages_by_status", "errors_by_code", "intents", "models")


def _flatten(figures: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in figures.items():
        if isinstance(value, dict) and value and key not in DISTRIBUTIONS:
            rows += _flatten(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def register_read_commands(app: typer.Typer) -> None:
    for command in (project, status, rebuild, stats, replay):
        app.command()(command)


def replay(
    chat_id: Annotated[str, typer.Argument(help="The chat to replay.")],
    to_version: Annotated[
        int | None, typer.Option(parser=parse_version, help="Replay up to this version.")
    ] = None,
    at: Annotated[
        datetime | None,
        typer.Option(parser=parse_instant, help=f"Replay up to this time, {INSTANT_FORM}."),
    ] = None,
    events: Annotated[bool, typer.Option("--events", help="Show the timeline of events.")] = False,
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """The chat as it was at a version or a time, rebuilt from its events: messages, open
    streams, metadata, and with --events what each event changed. An operator's tool: it
    replays any chat (the Python and HTTP APIs allow only the chat's owner)."""
    with opened_read_side(database_url) as (read_side, _):
        owner = replay_owner(read_side, chat_id)
        # No owner: the chat does not exist, and replay_chat answers CHAT_NOT_FOUND for anyone.
        result = read_side.replay_chat(
            chat_id, owner or OPERATOR, to_version, at, with_timeline=events
        )
    if as_json:
        print(result.model_dump_json())
    elif result.chat is not None:
        print_replay(result.chat.model_dump(), events)
        print_warnings(result.warnings)
    if result.error is not None:
        if not as_json:
            errors.print(alert(f"{result.error.code}:"), result.error.message)
        raise typer.Exit(1)


def replay_owner(read_side: ReadSide, chat_id: str) -> str | None:
    try:
        return chat_owner(read_side.pipeline, chat_id)
    except PersistenceError:  # an id the store refuses: replay_chat answers with the coded error
        return None


def print_replay(chat: dict[str, Any], with_events: bool) -> None:
    chain = "intact" if chat["chain_intact"] else "BROKEN"
    console.print(f"chat {chat['chat_id']} of {chat['owner_id']} at version {chat['version']} "
                  f"({chat['as_of']}); chain {chain}")  # fmt: skip
    table = Table(title="messages")
    for column in ("message", "role", "status", "tokens", "model", "error", "content"):
        table.add_column(column, overflow="fold")
    for m in chat["messages"]:
        content = (m["content"] or "")[:60]
        table.add_row(m["message_id"], m["role"], m["status"], str(m["token_count"] or ""),
                      m["model"] or "", m["error_code"] or "", content)  # fmt: skip
    console.print(table)
    if with_events:
        timeline = Table(title="events")
        for column in ("v", "time", "event", "what changed"):
            timeline.add_column(column, overflow="fold")
        for e in chat["timeline"]:
            timeline.add_row(str(e["version"]), e["recorded_at"], e["event_type"], e["changed"])
        console.print(timeline)
