"""`export-proof`: a self-contained archive an outside auditor checks with the standalone
verifier, without ChatLedger and its database (docs/proof-format.md)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from eventsourcing.persistence import MapperDeserialisationError

from chatledger.domain.errors import ChatLedgerError
from chatledger.domain.query_bounds import INSTANT_FORM
from chatledger.infrastructure.cli.common import (
    DatabaseOption,
    JsonOption,
    console,
    errors,
    opened_pipeline,
)
from chatledger.infrastructure.cli.integrity import print_refusal
from chatledger.infrastructure.cli.literal_console import alert
from chatledger.infrastructure.cli.option_types import parse_instant
from chatledger.infrastructure.cli.read import progress_bar
from chatledger.infrastructure.security.checkpoints import DEFAULT_KEY
from chatledger.infrastructure.security.proof_archive import export_proof, write_verifier
from chatledger.projections.proof_export import Selection


def export_proof_command(
    chat_id: Annotated[str | None, typer.Option("--chat", help="Only this chat.")] = None,
    user_id: Annotated[
        str | None, typer.Option("--user", help="This user's chats and erasure records.")
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(parser=parse_instant, help=f"Only events from this time on, {INSTANT_FORM}."),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="The archive (zip).")] = Path(
        "proof.zip"
    ),
    key: Annotated[Path, typer.Option(help="The checkpoint signing key (Ed25519, PEM).")] = (
        DEFAULT_KEY
    ),
    checkpoints: Annotated[
        Path, typer.Option(help="Folder of the checkpoint series; a new one is added there.")
    ] = Path("."),
    with_verifier: Annotated[
        bool, typer.Option(help="Also write chatledger_verify.py next to the archive.")
    ] = False,
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write a self-contained proof: the selected chats' events as stored (canonical bytes and
    hashes), a checkpoint of the whole log signed now (or the latest, if nothing was recorded
    since), the Merkle path of each chat's head to its root, a signed manifest and the public
    key. Check it with `python chatledger_verify.py ARCHIVE`. Exit 1 when nothing matches the
    selection, 2 on bad options, 3 when the database, the key or the output cannot be used."""
    if chat_id is not None and user_id is not None:
        raise typer.BadParameter("give --chat or --user, not both")
    selection = Selection(chat_id, user_id, since)
    with opened_pipeline(database_url) as (pipeline, _):
        head = pipeline.recorder.max_notification_id() or 0
        with progress_bar(as_json) as progress:
            task = progress.add_task("export", total=head, rate="-")

            def report(position: int) -> None:
                elapsed = progress.tasks[task].elapsed or 0.0
                rate = f"{position / elapsed:,.0f}" if elapsed > 0 else "-"
                progress.update(task, completed=position, rate=rate)
                progress.refresh()

            summary = _export(pipeline, selection, key, output, checkpoints, report, as_json)
            progress.update(task, completed=head)
    if with_verifier:
        summary["verifier"] = str(write_verifier(output.parent))
    print_summary(summary, as_json)


def _export(pipeline: Any, selection: Selection, key: Path, output: Path, checkpoints: Path,
            report: Any, as_json: bool) -> dict[str, Any]:  # fmt: skip
    try:
        return export_proof(pipeline, selection, key, output, checkpoints, report)
    except ChatLedgerError as error:  # nothing matches the selection
        print_refusal(error, as_json)
        raise typer.Exit(1) from None
    except MapperDeserialisationError:
        raise  # an event cannot be read: the command line's failure (exit 1), not a file's
    except (OSError, ValueError) as error:  # no key, a key that is not Ed25519, a folder
        errors.print(alert("cannot export:"), str(error), highlight=False)
        raise typer.Exit(3) from None


def print_summary(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary))
        return
    fresh = "new" if summary["new_checkpoint"] else "latest"
    console.print(f"{summary['events']:,} events of {summary['chats']:,} chats written to "
                  f"{summary['file']}, proved against the {fresh} checkpoint "
                  f"{summary['checkpoint']} (log position {summary['log_position']:,})",
                  highlight=False)  # fmt: skip
    console.print(f"signer's key fingerprint: {summary['key_fingerprint']}", highlight=False)
    if "verifier" in summary:
        console.print(f"verifier: {summary['verifier']}", highlight=False)


def register_proof_commands(app: typer.Typer) -> None:
    app.command("export-proof")(export_proof_command)
