"""Erasures: every recorded erasure (who asked, when, why, what it found), and for keys that
may erase, the form that requests one (reason and requester are recorded with it)."""

from __future__ import annotations

from typing import Annotated, Any

from eventsourcing.persistence import PersistenceError
from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from chatledger.domain.query_bounds import Position
from chatledger.infrastructure.http.console.access import (
    Auditor,
    AuditorDep,
    ConsoleDeniedError,
    console_of,
    render,
)
from chatledger.infrastructure.http.context import StoreUnavailableError, wired_services
from chatledger.infrastructure.http.results import ERROR_STATUS
from chatledger.infrastructure.security.user_erasure import erase_user_and_keys
from chatledger.projections.audit_export import audit_page
from chatledger.projections.views import AuditFilter

router = APIRouter(prefix="/console", include_in_schema=False)
PAGE = 100


def erasures(request: Request, after: int) -> tuple[list[dict[str, Any]], int | None]:
    wired = wired_services(request)
    try:
        wired.read_side.catch_up(["audit"])
        records = audit_page(wired.pipeline, wired.read_side.audit,
                             AuditFilter(event_types=("Erased",)), after, PAGE)  # fmt: skip
    except PersistenceError:
        raise StoreUnavailableError from None
    return records, records[-1]["position"] if len(records) == PAGE else None


def page(request: Request, auditor: Auditor, after: int, outcome: Any = None,
         status: int = 200) -> Response:  # fmt: skip
    records, following = erasures(request, after)
    context = {"auditor": auditor, "erasures": records, "next_after": following,
               "outcome": outcome}  # fmt: skip
    return render(request, "erasures.html", context, status)


@router.get("/erasures")
def erasure_list(
    request: Request, auditor: AuditorDep, after: Annotated[Position, Query()] = 0
) -> Response:
    return page(request, auditor, after)


@router.post("/erasures")
def request_erasure(
    request: Request,
    auditor: AuditorDep,
    user_id: Annotated[str, Form(max_length=255)],
    reason: Annotated[str, Form(max_length=1000)],
    requested_by: Annotated[str, Form(max_length=255)],
    csrf: Annotated[str, Form(max_length=200)],
) -> Response:
    sessions = console_of(request).sessions
    if auditor.session is None or not sessions.csrf_valid(auditor.session, csrf):
        raise ConsoleDeniedError(403)
    if not auditor.may_erase:
        raise ConsoleDeniedError(403)
    wired = wired_services(request)
    result, revoked = erase_user_and_keys(
        wired.read_side,
        wired.keys,
        user_id.strip(),
        reason=reason,
        requested_by=requested_by.strip(),
    )
    status = 200 if result.error is None else ERROR_STATUS.get(result.error.code, 422)
    # A refused request keeps what was typed, to be corrected rather than typed again.
    entered = {"user_id": user_id, "requested_by": requested_by, "reason": reason}
    outcome = {"result": result, "revoked": revoked, "entered": entered if result.error else {}}
    return page(request, auditor, 0, outcome, status)
