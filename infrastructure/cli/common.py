"""What every `chatledger` command shares: options, output, and opening the database.

Exit codes: 0 success, 1 some records failed or a query was refused, 2 usage error,
3 the database could not be opened or the settings are wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.bootstrap import bootstrap, build_read_side
from chatledger.infrastructure.cli.failures import first_line
from chatledger.infrastructure.cli.literal_console import LiteralConsole, alert, caution
from chatledger.infrastructure.observability.structured_logging import configure_logging
from chatledger.infrastructure.settings import Settings, SettingsError
from chatledger.projections.read_side import ReadSide

console = LiteralConsole()  # results, for people
errors = LiteralConsole(stderr=True)  # what went wrong, so that stdout stays parseable
DatabaseOption = Annotated[
    str | None,
    typer.Option("--database-url", help="Overrides CHATLEDGER_DATABASE_URL "
                 "(sqlite:///file.sqlite or postgresql://user:password@host:port/db)."),
]  # fmt: skip
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document for machines.")]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Log every command (JSON lines on stderr).")
]


def command_settings(database_url: str | None, verbose: bool = False) -> Settings:
    """The settings of a command: the environment's, with its options on top (exit 3 when
    they cannot work)."""
    # Batch commands log one line per message at info level: only with --verbose.
    overrides: dict[str, Any] = {} if verbose else {"log_level": "warning"}
    if database_url:
        overrides["database_url"] = database_url
    try:
        settings = Settings(**overrides)
    except (SettingsError, ValueError) as error:
        errors.print(alert("cannot open the database:"), str(error), highlight=False)
        raise typer.Exit(3) from None
    # The command line is an application: it sets up logging, which the library never does.
    configure_logging(settings.log_format, settings.log_level)
    # The connection pool's own lines on each failed attempt, unstructured: a command that
    # cannot connect says so once, with the reason.
    logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)
    return settings


def print_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        errors.print(caution("warning:"), warning, highlight=False)


@contextmanager
def opened_pipeline(
    database_url: str | None, verbose: bool = False
) -> Iterator[tuple[PersistencePipeline, Settings]]:
    settings = command_settings(database_url, verbose)
    try:
        pipeline = bootstrap(settings)
    except (SettingsError, OSError, ValueError) as error:
        errors.print(alert("cannot open the database:"), str(error), highlight=False)
        raise typer.Exit(3) from None
    except Exception as error:  # driver errors of every kind: the database is not usable
        errors.print(alert("cannot open the database:"), first_line(error), highlight=False)
        raise typer.Exit(3) from None
    try:
        yield pipeline, settings
    finally:
        pipeline.close()


@contextmanager
def opened_read_side(
    database_url: str | None, verbose: bool = False, **options: Any
) -> Iterator[tuple[ReadSide, Settings]]:
    with opened_pipeline(database_url, verbose) as (pipeline, settings):
        try:
            read_side = build_read_side(settings, pipeline, **options)
        except Exception as error:  # the read models' tables cannot be reached or created
            errors.print(alert("cannot open the read models:"), first_line(error), highlight=False)
            raise typer.Exit(3) from None
        try:
            yield read_side, settings
        finally:
            read_side.close()
