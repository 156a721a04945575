"""The one place where exceptions become results: validation, coded errors, store failures."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any, TypeVar

from eventsourcing.persistence import PersistenceError
from pydantic import BaseModel, ValidationError

from chatledger.domain.errors import ChatLedgerError, ErrorCode
from chatledger.domain.input_types import ID_PATTERN
from chatledger.domain.messages import CommandError, CommandResult
from chatledger.domain.ports import CommandObserver, CommandReport

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R", bound=CommandResult)


def validate(schema: type[M], /, **fields: Any) -> M:
    """Build an input model, or raise VALIDATION_ERROR naming the fields (never their values)."""
    try:
        return schema.model_validate(fields)
    except ValidationError as error:
        problems = described_problems(error.errors(include_input=False, include_url=False))
        raise ChatLedgerError(
            ErrorCode.VALIDATION_ERROR, problems_message(problems), {"errors": problems}
        ) from None


def described_problems(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Each of pydantic's errors (of a model, or of FastAPI's request) as its field, its
    problem and its type: what every surface shows, the input left out."""
    return [
        {"field": ".".join(str(p) for p in e["loc"]), "problem": problem_of(e), "type": e["type"]}
        for e in errors
    ]


def problem_of(error: Mapping[str, Any]) -> str:
    """pydantic's message of an error, without the value sent: a validator's own text without
    pydantic's "Value error, " before it; of a tagged union, the tags it takes, not the one
    sent (pydantic's message quotes it)."""
    context = error.get("ctx") or {}
    if error["type"] in ("value_error", "assertion_error") and "error" in context:
        return str(context["error"])
    if error["type"] == "union_tag_invalid":
        return f"{context['discriminator']} should be one of {context['expected_tags']}"
    return str(error["msg"])


def problems_message(problems: list[dict[str, str]]) -> str:
    """One line for people: "field: problem" of each, a whole-input problem alone."""
    return "; ".join(
        f"{p['field']}: {p['problem']}" if p["field"] else p["problem"] for p in problems
    )


def loggable_id(value: object) -> str | None:
    """An id as the caller sent it, if it is a well-formed id; raw input never reaches logs."""
    if isinstance(value, str) and re.fullmatch(ID_PATTERN, value):
        return value
    return None


@dataclass
class CommandRun:
    """Ids and figures gathered while a command runs, for its report."""

    command: str
    chat_id: str | None = None
    user_id: str | None = None
    message_id: str | None = None
    attempts: int = 0
    writes: bool = True
    store_seconds: float = 0.0
    requested_by: str | None = None

    @contextmanager
    def storing(self) -> Iterator[None]:
        """Count the time inside as time spent saving events."""
        began = perf_counter()
        try:
            yield
        finally:
            self.store_seconds += perf_counter() - began

    started: float = field(default_factory=perf_counter)


def run_command(
    observer: CommandObserver,
    run: CommandRun,
    action: Callable[[CommandRun], R],
    result_type: type[R],
) -> R:
    exception_type = None
    try:
        result = action(run)
    except ChatLedgerError as error:
        result = _error_result(result_type, run, error)
    except PersistenceError as error:
        exception_type = type(error).__name__
        failure = ChatLedgerError(
            ErrorCode.PERSISTENCE_ERROR, "the event store failed", {"error": exception_type}
        )
        result = _error_result(result_type, run, failure)
    except Exception as error:  # an audit log answers even when it has a bug
        exception_type = type(error).__name__
        failure = ChatLedgerError(
            ErrorCode.INTERNAL_ERROR, "unexpected error", {"error": exception_type}
        )
        result = _error_result(result_type, run, failure)
    result.processing_ms = round((perf_counter() - run.started) * 1000.0, 3)
    observer.command_finished(_report(run, result, exception_type))
    return result


def _error_result(result_type: type[R], run: CommandRun, error: ChatLedgerError) -> R:
    return result_type(
        success=False,
        chat_id=run.chat_id,
        message_id=run.message_id,
        error=CommandError(
            code=error.code,
            message=error.message,
            details=error.details,
            recovery_hint=error.recovery_hint,
        ),
    )


def _report(run: CommandRun, result: CommandResult, exception_type: str | None) -> CommandReport:
    code = result.error.code if result.error else None
    if result.success and not run.writes:
        outcome = "answered"
    elif result.success:
        outcome = "duplicate" if result.duplicate else "recorded"
    else:
        failed = code in (ErrorCode.PERSISTENCE_ERROR, ErrorCode.INTERNAL_ERROR)
        outcome = "failed" if failed else "rejected"
    return CommandReport(
        command=run.command,
        outcome=outcome,
        chat_id=run.chat_id,
        user_id=run.user_id,
        message_id=result.message_id or run.message_id,
        error_code=code.value if code else None,
        processing_ms=result.processing_ms,
        attempts=run.attempts,
        version=result.version,
        token_count=result.tokens.count if result.tokens else None,
        exception_type=exception_type,
        store_ms=round(run.store_seconds * 1000.0, 3) if run.store_seconds else None,
        requested_by=run.requested_by,
    )
