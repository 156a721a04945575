"""`chatledger keys`: create, list and revoke the HTTP API's bearer keys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.table import Table

from chatledger.domain.errors import ChatLedgerError
from chatledger.infrastructure.cli.common import DatabaseOption, JsonOption, console, errors
from chatledger.infrastructure.cli.failures import first_line
from chatledger.infrastructure.cli.literal_console import alert
from chatledger.infrastructure.cli.option_types import usage_error
from chatledger.infrastructure.read_store.read_models import read_model_database
from chatledger.infrastructure.security.api_keys import ApiKeyStore, Role, Scope
from chatledger.infrastructure.settings import Settings, SettingsError

OPTIONS = {"user_id": "--user", "role": "--role", "scopes": "--scope"}
keys_app = typer.Typer(help="API keys of the HTTP API (stored as SHA-256 digests only).",
                       no_args_is_help=True)  # fmt: skip


@contextmanager
def opened_keys(database_url: str | None) -> Iterator[ApiKeyStore]:
    try:
        overrides: dict[str, Any] = {"database_url": database_url} if database_url else {}
        settings = Settings(**overrides)
        database = read_model_database(settings)
        store = ApiKeyStore(database)
    except (SettingsError, ValueError) as error:
        errors.print(alert("cannot open the database:"), str(error), highlight=False)
        raise typer.Exit(3) from None
    except Exception as error:  # driver errors of every kind
        errors.print(alert("cannot open the database:"), first_line(error), highlight=False)
        raise typer.Exit(3) from None
    try:
        yield store
    finally:
        database.close()


@keys_app.command("create")
def create(
    user_id: Annotated[str, typer.Option("--user", help="The user id the key acts as.")],
    role: Annotated[
        Role,
        typer.Option(
            help="user: own chats; auditor: reads every chat; "
            "service: acts for the users its requests name."
        ),
    ] = (Role.user),
    scope: Annotated[
        list[Scope] | None, typer.Option(help="A service key's scopes (repeat the option).")
    ] = None,
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a key and print it once: only its digest is stored, it cannot be shown again."""
    with opened_keys(database_url) as store:
        try:
            issued = store.create(user_id, role, scope or [])
        except ChatLedgerError as error:
            # A problem of the key as a whole is of its role and scopes together.
            raise usage_error(error.details["errors"], OPTIONS, ("--role", "--scope")) from None
    if as_json:
        print(json.dumps(asdict(issued.key) | {"api_key": issued.secret}))
        return
    console.print(f"key id {issued.key.key_id} for user {issued.key.user_id} "
                  f"({issued.key.role.value}); the key (shown once):")  # fmt: skip
    print(issued.secret)


@keys_app.command("list")
def list_keys(
    user_id: Annotated[str | None, typer.Option("--user", help="Only this user's keys.")] = None,
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every key's id, user, role, and when it was created and revoked (never the key)."""
    with opened_keys(database_url) as store:
        keys = [asdict(key) for key in store.keys(user_id)]
    if as_json:
        print(json.dumps(keys))
        return
    table = Table(title="API keys")
    columns = ("key_id", "user_id", "role", "scopes", "created_at", "revoked_at", "expires_at")
    for column in columns:
        table.add_column(column)
    for key in keys:
        table.add_row(*(",".join(v) if isinstance(v := key[c], list | tuple) else str(v or "")
                        for c in columns))  # fmt: skip
    console.print(table)


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (from `keys list`).")],
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a key: the next request with it gets 401. Exit 1 if there is no such key."""
    with opened_keys(database_url) as store:
        key = store.revoke(key_id)
    document: dict[str, Any] | None = None if key is None else asdict(key)
    if as_json:
        print(json.dumps(document))
    elif key is None:
        errors.print(f"no key with id {key_id!r}", highlight=False, markup=False)
    else:
        console.print(f"revoked {key.key_id} ({key.user_id}) at {key.revoked_at}")
    if key is None:
        raise typer.Exit(1)
