"""Search: the audit index by user, chat, message id, event type, role, model and time, paged,
and the current result exported as JSONL or CSV.

Roles are event types (a role's messages are its own event types). The audit index does not
hold the model, so a model filter reads the recorded fields of the entries the other filters
found; a page of it scans at most SCAN_PAGES pages of the index and may come back short, with
a link to go on from where it stopped."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from eventsourcing.persistence import PersistenceError
from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from chatledger.domain.boundary import validate
from chatledger.domain.errors import ChatLedgerError
from chatledger.domain.event_types import EVENT_TYPES, ROLE_EVENT_TYPES
from chatledger.domain.query_bounds import Limit, Position
from chatledger.infrastructure.http.audit import csv_text, ndjson
from chatledger.infrastructure.http.console.access import SECURITY_HEADERS, AuditorDep, render
from chatledger.infrastructure.http.context import Services, StoreUnavailableError, wired_services
from chatledger.projections.audit_export import audit_page
from chatledger.projections.read_side import AuditFilterInput
from chatledger.projections.views import AuditFilter

router = APIRouter(prefix="/console", include_in_schema=False)
SCAN_PAGES = 20
Text = Annotated[str, Query(max_length=200)]


@dataclass
class Search:
    """The form's fields as given (shown back in the form) and what they filter."""

    given: dict[str, str]
    where: AuditFilter | None = None
    model: str | None = None
    problem: str | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    next_after: int | None = None


def parsed(given: dict[str, str]) -> Search:
    search = Search(given)
    by_role = ROLE_EVENT_TYPES.get(given["role"]) if given["role"] else EVENT_TYPES
    if by_role is None:
        search.problem = "role: one of " + ", ".join(ROLE_EVENT_TYPES)
        return search
    chosen = {name: given[name] for name in ("user_id", "chat_id", "message_id", "since", "until")
              if given[name]}  # fmt: skip
    types = [given["event_type"]] if given["event_type"] else []
    try:
        where = validate(AuditFilterInput, **chosen, event_types=types)
    except ChatLedgerError as error:
        search.problem = f"Not a valid filter: {error.message}"
        return search
    if given["role"]:  # the role's event types, of those asked for
        types = [t for t in by_role if not where.event_types or t in where.event_types]
        where = where.model_copy(update={"event_types": types or ["NoEventOfThisRole"]})
    search.where = where.to_filter()
    search.model = given["model"] or None
    return search


def matching(record: dict[str, Any], model: str | None) -> bool:
    fields = record["fields"] or {}  # null: the event is damaged since it was indexed
    return model is None or model in (fields.get("model"), fields.get("response_model"))


def run(wired: Services, search: Search, after: int, limit: int) -> None:
    """One page of matches after a position; where a model filter scanned SCAN_PAGES pages
    without filling it, the page ends early and goes on from where the scan stopped."""
    assert search.where is not None
    wired.read_side.catch_up(["audit"])
    for _ in range(SCAN_PAGES):
        page = audit_page(wired.pipeline, wired.read_side.audit, search.where, after, limit)
        search.records += [r for r in page if matching(r, search.model)]
        if len(page) < limit:
            search.next_after = None
            break
        after = search.next_after = page[-1]["position"]
        if len(search.records) >= limit:
            search.records, search.next_after = trimmed(search.records, limit)
            break


def trimmed(records: list[dict[str, Any]], limit: int) -> tuple[list[dict[str, Any]], int]:
    kept = records[:limit]
    return kept, kept[-1]["position"]


def every_match(wired: Services, search: Search) -> Iterator[dict[str, Any]]:
    assert search.where is not None
    for record in wired.read_side.audit_records(search.where):
        if matching(record, search.model):
            yield record


@router.get("/search")
def search_page(
    request: Request, auditor: AuditorDep, user_id: Text = "", chat_id: Text = "",
    message_id: Text = "", event_type: Text = "", role: Text = "", model: Text = "",
    since: Text = "", until: Text = "", after: Annotated[Position, Query()] = 0,
    limit: Annotated[Limit, Query()] = 50,
) -> Response:  # fmt: skip
    given = {"user_id": user_id, "chat_id": chat_id, "message_id": message_id,
             "event_type": event_type, "role": role, "model": model, "since": since,
             "until": until}  # fmt: skip
    search = parsed(given)
    if search.where is not None:
        try:
            run(wired_services(request), search, after, limit)
        except PersistenceError:
            raise StoreUnavailableError from None
    context = {"auditor": auditor, "search": search, "roles": list(ROLE_EVENT_TYPES),
               "event_types": EVENT_TYPES, "limit": limit, "after": after}  # fmt: skip
    return render(request, "search.html", context, 422 if search.problem else 200)


@router.get("/search/export")
def export(
    request: Request, auditor: AuditorDep, output_format: Annotated[str, Query(
        alias="format", pattern="^(jsonl|csv)$")] = "jsonl", user_id: Text = "", chat_id: Text = "",
    message_id: Text = "", event_type: Text = "", role: Text = "", model: Text = "",
    since: Text = "", until: Text = "",
) -> Response:  # fmt: skip
    given = {"user_id": user_id, "chat_id": chat_id, "message_id": message_id,
             "event_type": event_type, "role": role, "model": model, "since": since,
             "until": until}  # fmt: skip
    search = parsed(given)
    if search.where is None:
        return render(request, "search.html", {"auditor": auditor, "search": search,
                      "roles": list(ROLE_EVENT_TYPES), "event_types": EVENT_TYPES, "limit": 50,
                      "after": 0}, 422)  # fmt: skip
    records = every_match(wired_services(request), search)
    media, encode = ("text/csv; charset=utf-8", csv_text) if output_format == "csv" else (
        "application/x-ndjson", ndjson)  # fmt: skip
    name = f"chatledger-audit.{output_format}"
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(encode(records), media_type=media, headers=headers)
