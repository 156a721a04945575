"""Audit queries over HTTP, streamed as NDJSON or CSV in event order, page by page in constant
memory. A user key sees the trail of its own chats; an auditor key every chat (any user)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from enum import StrEnum
from itertools import chain, islice
from typing import Annotated, Any

from eventsourcing.persistence import PersistenceError
from fastapi import APIRouter, Query
from starlette.responses import Response, StreamingResponse

from chatledger.domain.boundary import validate
from chatledger.domain.errors import ChatLedgerError
from chatledger.domain.event_types import EVENT_TYPES, EventType
from chatledger.domain.input_types import ID_PATTERN
from chatledger.domain.messages import CommandError, CommandResult
from chatledger.domain.query_bounds import MAX_PAGE, Instant, Limit
from chatledger.infrastructure.http.context import (
    CHECKED,
    Caller,
    CallerDep,
    Services,
    ServicesDep,
    StoreUnavailableError,
)
from chatledger.infrastructure.http.paging import CursorQuery, cursor_for, position_of
from chatledger.infrastructure.http.results import ERROR_RESPONSES, ForbiddenError, as_response
from chatledger.projections.audit_export import CSV_COLUMNS, audit_page, csv_row
from chatledger.projections.read_side import AuditFilterInput, AuditTrailResult
from chatledger.projections.views import AuditFilter

router = APIRouter(prefix="/v1", tags=["reading"], responses=ERROR_RESPONSES, dependencies=CHECKED)
PAGE = 500
MEDIA = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
IdQuery = Annotated[str | None, Query(pattern=ID_PATTERN)]


class Format(StrEnum):
    ndjson = "ndjson"
    csv = "csv"


class AuditStreamFailedError(Exception):
    """The store failed after the first record was sent: the connection is dropped, so that
    a client never takes a cut-off export for a whole one."""


AUDIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Audit records in event order: one JSON object per line (ndjson), or "
        "CSV with a column for each common field (role, model, tokens, usage, finish "
        "reasons, status, error code) and the other recorded fields as JSON in the last",
        "content": {
            "application/x-ndjson": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


@router.get("/audit", responses=AUDIT_RESPONSES, response_model=None)
def audit(
    caller: CallerDep,
    wired: ServicesDep,
    chat_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="One chat.")] = None,
    message_id: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="One message's events.")
    ] = None,
    event_type: Annotated[list[EventType] | None, Query(max_length=16, description=(
        f"Event types, any case, with or without `Chat.`: {', '.join(EVENT_TYPES)}."))] = None,
    since: Annotated[Instant | None, Query(description="Inclusive, ISO 8601 with a time zone."
                                           )] = None,
    until: Annotated[Instant | None, Query(description="Exclusive, ISO 8601 with a time zone."
                                           )] = None,
    user_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="Auditor keys only.")] = (
        None
    ),
    with_content: Annotated[bool, Query(description="Include content (sealed fields).")] = False,
    output_format: Annotated[Format, Query(alias="format", description="ndjson or csv.")] = (
        Format.ndjson
    ),
    limit: Annotated[Limit | None, Query(description="One page of at most this many records "
                                         f"(at most {MAX_PAGE}); the next page's cursor is in "
                                         "X-Next-Cursor.")] = None,
    cursor: CursorQuery = None,
) -> Response:  # fmt: skip
    """Events by chat, message, type and time: position, time, chat, user, event type, message
    id, version, hash and the recorded fields (content only with `with_content`). Without
    `limit` or `cursor`, every record streams; with them, one page."""
    filters = {"chat_id": chat_id, "message_id": message_id, "event_types": event_type or [],
               "since": since, "until": until, "with_content": with_content}  # fmt: skip
    if user_id not in (None, caller.user_id) and not caller.auditor:
        raise ForbiddenError("only an auditor key reads another user's audit trail")
    response = audit_response(wired, caller, filters, user_id, limit, cursor, output_format)
    if response.status_code == 200:
        whose = user_id if caller.auditor else caller.user_id
        try:
            damaged = wired.read_side.damaged_chats(AuditFilter(user_id=whose, chat_id=chat_id))
        except PersistenceError:
            raise StoreUnavailableError from None
        if damaged:  # their quarantined events are not in the trail: say which chats
            response.headers["X-Damaged-Chats"] = ",".join(c.chat_id for c in damaged[:100])
    return response


def audit_response(
    wired: Services, caller: Caller, filters: dict[str, Any], user_id: str | None,
    limit: int | None, cursor: str | None, output_format: Format,
) -> Response:  # fmt: skip
    if limit is not None or cursor is not None:
        return audit_page_response(wired, caller, {**filters, "user_id": user_id}, limit or 100,
                                   cursor, output_format)  # fmt: skip
    if caller.auditor:
        records = operator_records(wired, {**filters, "user_id": user_id})
    else:
        records = own_records(wired, caller, filters)
    if isinstance(records, CommandResult):
        return as_response(records)
    encode = ndjson if output_format is Format.ndjson else csv_text
    return StreamingResponse(encode(records), media_type=MEDIA[output_format.value])


def audit_page_response(
    wired: Services, caller: Caller, filters: dict[str, Any], limit: int, cursor: str | None,
    output_format: Format,
) -> Response:  # fmt: skip
    """One page of the trail, and the cursor of the next in X-Next-Cursor (none at the end)."""
    query = {**filters, "user_id": filters["user_id"] or caller.user_id}
    after = position_of(cursor, query) or 0
    if caller.auditor:
        page = operator_page(wired, filters, after, limit)
    else:
        filters = {k: v for k, v in filters.items() if k != "user_id"}
        page = wired.read_side.audit_trail(caller.user_id, **filters, limit=limit,
                                           after_position=after)  # fmt: skip
    if not page.success:
        return as_response(page)
    following = cursor_for(page.next_position, query)
    encode = ndjson if output_format is Format.ndjson else csv_text
    return Response(b"".join(encode(page.records)), media_type=MEDIA[output_format.value],
                    headers={"X-Next-Cursor": following} if following else None)  # fmt: skip


def operator_page(
    wired: Services, filters: dict[str, Any], after: int, limit: int
) -> AuditTrailResult:
    with_content = filters.pop("with_content")
    given = {name: value for name, value in filters.items() if value not in (None, [])}
    try:
        where = validate(AuditFilterInput, **given).to_filter()
        wired.read_side.catch_up(["audit"])
        records = audit_page(wired.pipeline, wired.read_side.audit, where, after, limit,
                             with_content=with_content)  # fmt: skip
    except ChatLedgerError as error:
        return AuditTrailResult(success=False, error=CommandError(
            code=error.code, message=error.message, details=error.details,
            recovery_hint=error.recovery_hint))  # fmt: skip
    except PersistenceError:
        raise StoreUnavailableError from None
    following = records[-1]["position"] if len(records) == limit else None
    return AuditTrailResult(success=True, records=records, next_position=following)


def own_records(
    wired: Services, caller: Caller, filters: dict[str, Any]
) -> Iterator[dict[str, Any]] | CommandResult:
    """The caller's own trail, page after page; the first page is read here, so that a
    refusal (another user's chat, a bad filter, the store away) gets its status code."""
    first = wired.read_side.audit_trail(caller.user_id, **filters, limit=PAGE)
    if not first.success:
        return first

    def pages() -> Iterator[dict[str, Any]]:
        page = first
        yield from page.records
        while page.next_position is not None:
            page = wired.read_side.audit_trail(caller.user_id, **filters, limit=PAGE,
                                               after_position=page.next_position)  # fmt: skip
            if not page.success:
                raise AuditStreamFailedError(page.error.code if page.error else "")
            yield from page.records

    return pages()


def operator_records(
    wired: Services, filters: dict[str, Any]
) -> Iterator[dict[str, Any]] | CommandResult:
    """Every matching record, any user's (the auditor's export)."""
    with_content = filters.pop("with_content")
    given = {name: value for name, value in filters.items() if value not in (None, [])}
    try:
        where = validate(AuditFilterInput, **given).to_filter()
    except ChatLedgerError as error:
        return CommandResult(success=False, error=CommandError(
            code=error.code, message=error.message, details=error.details,
            recovery_hint=error.recovery_hint))  # fmt: skip
    try:
        records = wired.read_side.audit_records(where, with_content=with_content)
        first = list(islice(records, 1))  # catches up the index and reads: failures answer 503
    except PersistenceError:
        raise StoreUnavailableError from None
    return guarded(chain(first, records))


def guarded(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    try:
        yield from records
    except PersistenceError as error:
        raise AuditStreamFailedError(type(error).__name__) from None


def ndjson(records: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    for batch in batched(records):
        lines = (json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in batch)
        yield "".join(lines).encode("utf-8")


def csv_text(records: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for batch in batched(records):
        writer.writerows(csv_row(record) for record in batch)
        yield buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():  # the header of an empty export
        yield buffer.getvalue().encode("utf-8")


def batched(records: Iterable[dict[str, Any]], size: int = 100) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield batch
