"""Integrity commands: verify the hash chains (and a checkpoint), write signed checkpoints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from chatledger.domain.errors import ChatLedgerError
from chatledger.infrastructure.cli.common import (
    DatabaseOption,
    JsonOption,
    console,
    errors,
    opened_pipeline,
    opened_read_side,
)
from chatledger.infrastructure.cli.literal_console import alert
from chatledger.infrastructure.cli.read import progress_bar
from chatledger.infrastructure.security.checkpoints import (
    DEFAULT_KEY,
    PublicKeyUnusableError,
    check_checkpoint,
    latest_checkpoint,
    load_public_key,
    public_key_path,
    read_checkpoint,
    write_checkpoint,
)
from chatledger.projections.checkpoint import format_label
from chatledger.projections.verification import VerifyReport

DEFAULT_PUBLIC_KEY = public_key_path(DEFAULT_KEY)


def verify(
    chat_id: Annotated[str | None, typer.Option("--chat", help="Only this chat.")] = None,
    checkpoint: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Also prove against it.")
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            dir_okay=False,
            help=f"The checkpoint signer's public key (default: {DEFAULT_PUBLIC_KEY} beside the "
            "checkpoint, else in the working folder).",
        ),
    ] = None,
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Recompute every chat's hash chain from the stored events and report the first broken
    link of each chat (chat, version, expected and found), and every row of the audit index and
    the messages table that does not say what its event says (chat, version, read model,
    field); with --checkpoint also prove that nothing recorded before it was modified, removed,
    reordered or truncated since. Exit 0 when intact, 1 when not, 3 when the database or a file
    cannot be read."""
    if checkpoint is not None:
        public_key = public_key or signers_key(checkpoint)
        with public_key_problems(as_json):  # before the pass over the log, not after it
            load_public_key(public_key)
    with opened_read_side(database_url) as (read_side, _):
        pipeline = read_side.pipeline
        with progress_bar(as_json or chat_id is not None) as progress:
            task = progress.add_task("verify", total=None, rate="-")

            def report(position: int, head: int) -> None:
                elapsed = progress.tasks[task].elapsed or 0.0
                rate = f"{position / elapsed:,.0f}" if elapsed > 0 else "-"
                progress.update(task, completed=position, total=head, rate=rate)

            try:
                result = read_side.verifier().verify(chat_id, report)
            except ChatLedgerError as error:  # CHAT_NOT_FOUND: not intact, and said so
                print_refusal(error, as_json)
                raise typer.Exit(1) from None
        findings, label = [], None
        if checkpoint is not None and public_key is not None:
            with public_key_problems(as_json):
                findings = check_checkpoint(pipeline, checkpoint, public_key)
            label = format_label(read_checkpoint(checkpoint))
    intact = result.intact and not findings
    if as_json:
        checked = {"checkpoint_findings": findings, "checkpoint_format": label}
        print(json.dumps(asdict(result) | checked | {"intact": intact}))
    else:
        print_verification(result, findings, checkpoint, label)
    if not intact:
        raise typer.Exit(1)


@contextmanager
def public_key_problems(as_json: bool) -> Iterator[None]:
    """A public key that cannot be had is its own failure (exit 3, its code), never reported
    as a signature that does not verify: nothing is proved either way."""
    try:
        yield
    except PublicKeyUnusableError as error:
        print_problem(error.code, error.message, as_json)
        raise typer.Exit(3) from None


def signers_key(checkpoint: Path) -> Path:
    """The public key kept with the checkpoint, or in the working folder (exit 3 if neither)."""
    for candidate in (checkpoint.parent / DEFAULT_PUBLIC_KEY.name, DEFAULT_PUBLIC_KEY):
        if candidate.is_file():
            return candidate
    errors.print(alert("no public key:"), f"{DEFAULT_PUBLIC_KEY.name} is neither beside "
                 f"{checkpoint} nor in the working folder; name it with --public-key",
                 highlight=False)  # fmt: skip
    raise typer.Exit(3)


def print_refusal(error: ChatLedgerError, as_json: bool) -> None:
    print_problem(error.code.value, error.message, as_json)


def print_problem(code: str, message: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"intact": False, "error": {"code": code, "message": message}}))
    else:
        errors.print(alert(f"{code}:"), message, highlight=False)


def print_verification(
    result: VerifyReport, findings: list[str], checkpoint: Path | None, label: str | None
) -> None:
    verdict = Text("intact", style="green") if result.intact else alert("BROKEN")
    console.print(f"{result.events:,} events in {result.chats:,} chats:", verdict)
    if result.broken:
        table = Table(title="first broken link of each chat")
        for column in ("chat", "version", "problem", "expected", "found"):
            table.add_column(column, overflow="fold")
        for link in result.broken:
            table.add_row(link.chat_id, str(link.version), link.problem, link.expected, link.found)
        console.print(table)
    if result.mismatches:
        table = Table(title="read model rows that do not say what their event says")
        for column in ("chat", "version", "read model", "field", "expected", "found"):
            table.add_column(column, overflow="fold")
        for row in result.mismatches:
            table.add_row(row.chat_id, str(row.version), row.read_model, row.field,
                          row.expected, row.found)  # fmt: skip
        console.print(table)
    for finding in findings:
        console.print(alert("checkpoint:"), finding)
    if checkpoint is not None and not findings:
        console.print(f"checkpoint {checkpoint.name} ({label}): everything before it is as it "
                      "was", highlight=False)  # fmt: skip


def checkpoint(
    key: Annotated[Path, typer.Option(help="Ed25519 key (PEM), made with its .pub if missing.")] = (
        DEFAULT_KEY
    ),
    output: Annotated[Path | None, typer.Option(help="Default: checkpoint-<position>.json")] = None,
    previous: Annotated[
        Path | None,
        typer.Option(
            dir_okay=False,
            help="The checkpoint this one follows "
            "(default: the latest checkpoint-*.json beside the output).",
        ),
    ] = None,
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write a signed digest of the whole log: a Merkle root over every chat's chain head, the
    log position, and the digest of the previous checkpoint. Keep them, and the public key, where
    the database's administrators cannot change them; `verify --checkpoint` proves the log
    against one later, and a series of them shows that the log only grew."""
    with opened_pipeline(database_url) as (pipeline, _):
        target = output or Path(f"checkpoint-{pipeline.recorder.max_notification_id() or 0}.json")
        previous = previous or latest_checkpoint(target.parent, besides=target)
        document = write_checkpoint(pipeline, key, target, previous)
    summary = {k: document[k] for k in ("format", "log_position", "events", "chats",
                                        "merkle_root", "previous_digest")}  # fmt: skip
    if as_json:
        print(json.dumps(summary | {"file": str(target)}))
    else:
        console.print(f"checkpoint written to {target}: {summary}")


def register_integrity_commands(app: typer.Typer) -> None:
    for command in (verify, checkpoint):
        app.command()(command)
