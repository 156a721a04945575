"""Reading over HTTP: statistics (what a dashboard polls), replay, verify, health, readiness.

A user key reads its own chats; an auditor key reads every chat (as its owner would)."""

from __future__ import annotations

from typing import Annotated

from eventsourcing.persistence import PersistenceError
from fastapi import APIRouter, Query
from starlette.responses import PlainTextResponse, Response

from chatledger.domain.errors import ChatLedgerError, ErrorCode
from chatledger.domain.input_types import ID_PATTERN
from chatledger.domain.messages import CommandResult
from chatledger.domain.query_bounds import Instant, Version
from chatledger.infrastructure.http.context import (
    CHECKED,
    CallerDep,
    ChatIdPath,
    ServicesDep,
    StoreUnavailableError,
    acting_user,
)
from chatledger.infrastructure.http.models import (
    Health,
    ProjectionLag,
    Readiness,
)
from chatledger.infrastructure.http.results import (
    ERROR_RESPONSES,
    ForbiddenError,
    as_response,
    not_found,
)
from chatledger.infrastructure.observability.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from chatledger.projections.read_side import MAX_RANGE_HOURS, ReplayResult, StatsResult
from chatledger.projections.verification import VerifyResult

router = APIRouter(prefix="/v1", tags=["reading"], responses=ERROR_RESPONSES, dependencies=CHECKED)
probes = APIRouter(tags=["operations"], dependencies=CHECKED)
Hours = Annotated[
    int | None, Query(ge=1, le=MAX_RANGE_HOURS, description="The last N hours (hour-aligned).")
]
UserIdQuery = Annotated[
    str | None,
    Query(pattern=ID_PATTERN, description="Another user's statistics: auditor keys only."),
]


def answered(model: type[CommandResult]) -> dict[int | str, dict[str, object]]:
    return {200: {"model": model, "description": "Answered"}}


@router.get("/stats", responses=answered(StatsResult), response_model=None)
def user_stats(
    caller: CallerDep, wired: ServicesDep, hours: Hours = None, user_id: UserIdQuery = None
) -> Response:
    """Persistence statistics of the caller (or, for an auditor, of any user), for all time or
    the last N hours; answered from pre-aggregated counters in constant time."""
    if user_id not in (None, caller.user_id) and not caller.auditor:
        raise ForbiddenError("only an auditor key reads another user's statistics")
    result = wired.read_side.get_message_persistence_stats(user_id or caller.user_id, None, hours)
    return as_response(result)


@router.get("/chats/{chat_id:path}/stats", responses=answered(StatsResult), response_model=None)
def chat_stats(
    chat_id: ChatIdPath, caller: CallerDep, wired: ServicesDep, hours: Hours = None
) -> Response:
    """Persistence statistics of one chat."""
    user_id = acting_user(wired, caller, chat_id)
    return as_response(wired.read_side.get_message_persistence_stats(user_id, chat_id, hours))


@router.get("/chats/{chat_id:path}/replay", responses=answered(ReplayResult), response_model=None)
def replay(
    chat_id: ChatIdPath,
    caller: CallerDep,
    wired: ServicesDep,
    to_version: Annotated[Version | None, Query(description="Up to this version.")] = None,
    at: Annotated[
        Instant | None, Query(description="Up to this time, ISO 8601 with a time zone.")
    ] = None,
    timeline: Annotated[bool, Query(description="What each event changed.")] = True,
) -> Response:
    """The chat as it was at a version and/or a time, from its events alone."""
    user_id = acting_user(wired, caller, chat_id)
    result = wired.read_side.replay_chat(chat_id, user_id, to_version, at, with_timeline=timeline)
    return as_response(result)


@router.get("/verify", responses=answered(VerifyResult), response_model=None)
def verify(
    caller: CallerDep,
    wired: ServicesDep,
    chat_id: Annotated[str | None, Query(pattern=ID_PATTERN, examples=["chat-1"])] = None,
) -> Response:
    """Recompute hash chains from the stored events: one chat (its owner, or an auditor), or
    every chat (auditor keys only). `intact` false names the first broken link of each chat."""
    if chat_id is None and not caller.auditor:
        raise ForbiddenError("verifying every chat needs an auditor key; name one of yours")
    if chat_id is not None and not caller.auditor:
        try:
            wired.pipeline.load_owned_chat(chat_id, caller.user_id)
        except ChatLedgerError:
            return as_response(CommandResult(success=False, error=not_found(chat_id)))
        except PersistenceError:
            raise StoreUnavailableError from None
    verified = wired.read_side.verify(chat_id)
    if verified.error is not None and verified.error.code is ErrorCode.CHAT_NOT_FOUND:
        return as_response(CommandResult(success=False, error=not_found(chat_id or "")))
    return as_response(verified)


@probes.get("/metrics", response_class=PlainTextResponse)
def metrics(wired: ServicesDep) -> Response:
    """Prometheus metrics (no key, as the probes): requests by route and status, latency,
    commands by outcome, errors by code, messages by role, group-commit rounds, projection
    lag. Counts only, never content or ids."""
    return Response(wired.metrics.exposition(), media_type=METRICS_CONTENT_TYPE)


@probes.get("/healthz", responses={503: {"model": Health}}, response_model=Health)
def health(wired: ServicesDep) -> Response:
    """Alive and the database answers (no key needed)."""
    try:
        wired.pipeline.recorder.max_notification_id()
    except Exception:  # any driver failure means: not reachable
        return as_status(Health(status="unavailable", database="unreachable"), 503)
    return as_status(Health(status="ok", database="reachable"), 200)


@probes.get("/readyz", responses={503: {"model": Readiness}}, response_model=Readiness)
def readiness(wired: ServicesDep) -> Response:
    """Ready once every projection has reached the head the log had when the service started,
    and while it is at most `max_lag` events behind the log (no key needed): statistics and
    audit queries answer from current read models."""
    max_lag, start = wired.settings.http_ready_max_lag, wired.head_at_start
    try:
        statuses = wired.read_side.status()
    except Exception:
        return as_status(Readiness(ready=False, max_lag=max_lag, head_at_start=start,
                                   database="unreachable"), 503)  # fmt: skip
    lags = [ProjectionLag(name=s.name, position=s.position, head=s.head, lag=s.lag,
                          quarantined=s.quarantined)
            for s in statuses]  # fmt: skip
    ready = all(lag.position >= start and lag.lag <= max_lag for lag in lags)
    answer = Readiness(ready=ready, max_lag=max_lag, head_at_start=start, projections=lags)
    return as_status(answer, 200 if ready else 503)


def as_status(model: Health | Readiness, status: int) -> Response:
    return Response(model.model_dump_json(), status, media_type="application/json")
