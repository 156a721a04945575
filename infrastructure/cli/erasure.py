"""`chatledger erase-user`: the right to erasure, by destroying the user's content key."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from chatledger.domain.erasure import ErasureResult
from chatledger.domain.errors import ErrorCode
from chatledger.infrastructure.cli.common import (
    DatabaseOption,
    JsonOption,
    console,
    errors,
    opened_read_side,
    print_warnings,
)
from chatledger.infrastructure.cli.option_types import usage_error
from chatledger.infrastructure.read_store.sql_read_model import SqlReadModel
from chatledger.infrastructure.security.api_keys import ApiKeyStore
from chatledger.infrastructure.security.user_erasure import erase_user_and_keys
from chatledger.projections.read_side import ReadSide

OPTIONS = {"user_id": "USER", "reason": "--reason", "requested_by": "--requested-by"}


def erase_and_scrub(
    read_side: ReadSide, user_id: str, reason: str, requested_by: str
) -> tuple[ErasureResult, bool]:
    """Erase, purge the read models, then let the database drop the pages that held the
    content (SQLite's WAL); the flag says whether that last step completed."""
    view = read_side.messages
    assert isinstance(view, SqlReadModel), "the read models are SQL: the keys live beside them"
    result, _ = erase_user_and_keys(read_side, ApiKeyStore(view.database), user_id,
                                    reason=reason, requested_by=requested_by)  # fmt: skip
    released = result.success and view.database.release_freed_pages()
    return result, released


def erase_user(
    user_id: Annotated[str, typer.Argument(help="The user whose content is erased.")],
    reason: Annotated[str, typer.Option(help="Why (recorded with the erasure, never logged).")],
    requested_by: Annotated[str, typer.Option(help="Who asked: an id (recorded and logged).")],
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Erase everything USER wrote: destroy the user's content key and record who asked, when
    and why. The audit trail keeps its shape (who, when, which chat and model, tokens) and the
    hash chains still verify; the content reads "[erased]" everywhere, for good. Erasing again
    changes nothing (exit 0); an unknown user id exits 1; bad arguments exit 2."""
    with opened_read_side(database_url) as (read_side, _):
        result, released = erase_and_scrub(read_side, user_id, reason, requested_by)
    if result.error and result.error.code is ErrorCode.VALIDATION_ERROR:
        raise usage_error(result.error.details["errors"], OPTIONS)
    document: dict[str, Any] = result.model_dump(mode="json") | {"wal_released": released}
    if as_json:
        print(json.dumps(document))
    else:
        print_erasure(document)
    print_warnings(result.warnings)
    if not result.success:
        raise typer.Exit(1)


def print_erasure(document: dict[str, Any]) -> None:
    if document["error"]:
        error = document["error"]
        errors.print(f"{error['code']}: {error['message']}", highlight=False, markup=False)
        return
    table = Table(title=f"erasure of {document['user_id']}", show_header=False)
    for key in ("outcome", "erased_at", "requested_by", "chats", "content_events",
                "legacy_plaintext_events", "wal_released"):  # fmt: skip
        table.add_row(key, str(document[key]))
    console.print(table)
