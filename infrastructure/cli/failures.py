"""Foreseeable failures of any command, as one line on stderr and a documented exit code,
never a traceback: a file that is missing or may not be read, a database that fails or goes
away, an event that cannot be decoded. What is not foreseen still shows its traceback (a bug
to report), without local variables.

Exit codes: 1 something the command checked failed (records not recorded, a broken chain, an
event that cannot be read), 2 usage error, 3 the database or a file the command needs could not
be opened, read or written, or the settings are wrong; 130 interrupted.
"""

from __future__ import annotations

import errno
import re
import sqlite3
from dataclasses import dataclass
from typing import Any

import typer
from eventsourcing.persistence import MapperDeserialisationError, PersistenceError
from eventsourcing.utils import TopicError
from typer.core import TyperGroup

from chatledger.domain.unreadable_events import failure_reason

EXIT_FAILED = 1
EXIT_UNAVAILABLE = 3
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


@dataclass(frozen=True)
class Failure:
    exit_code: int
    message: str


def foreseen(error: BaseException) -> Failure | None:
    """The line and exit code for an expected failure; None for anything else."""
    if isinstance(error, OSError) and not isinstance(error, ConnectionError):
        return Failure(EXIT_UNAVAILABLE, file_problem(error))
    if isinstance(error, PersistenceError | sqlite3.Error) or _is_driver_error(error):
        # Each batch of the read models is written with its position, each persist whole:
        # what was done is kept, and the same command run again goes on from there.
        kept = "what was done is kept, run the command again once the database takes writes"
        return Failure(EXIT_UNAVAILABLE, f"the database failed: {first_line(error)}; {kept}")
    if isinstance(error, MapperDeserialisationError | TopicError):
        return Failure(EXIT_FAILED, f"an event cannot be read ({failure_reason(error)}); "
                       "`chatledger verify` names it, `chatledger status` lists what the read "
                       "models skipped")  # fmt: skip
    return None


def file_problem(error: OSError) -> str:
    what = f" {error.filename}" if error.filename else ""
    if error.errno == errno.ENOSPC:
        return f"cannot write{what}: no space left on the device"
    reason = error.strerror or type(error).__name__
    return f"cannot use{what}: {reason}"


def first_line(error: BaseException) -> str:
    """The error's type and first line, with any password of a URL in it masked."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return _URL_PASSWORD.sub(r"\1***@", text)[:300]


def _is_driver_error(error: BaseException) -> bool:
    # psycopg is an optional extra: recognised by its module, not imported.
    return type(error).__module__.split(".")[0] in {"psycopg", "psycopg_pool"}


class FailureMappingGroup(TyperGroup):
    """The command group that turns foreseeable failures into a line and an exit code (see the
    module's docstring); the CLI's own exits and usage errors pass through."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except Exception as error:
            failure = foreseen(error)
            if failure is None:
                raise
            typer.echo(f"error: {failure.message}", err=True)
            raise typer.Exit(failure.exit_code) from None
