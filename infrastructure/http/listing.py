"""Listing over HTTP, page by page with opaque cursors: a user's chats, a chat's messages.
A user key lists its own; an auditor key any user's (content only when it asks for it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import Field
from starlette.responses import Response

from chatledger.domain.input_types import ID_PATTERN
from chatledger.domain.messages import ROLES, CommandResult
from chatledger.domain.query_bounds import Instant
from chatledger.infrastructure.http.context import (
    CHECKED,
    CallerDep,
    ChatIdPath,
    ServicesDep,
    acting_user,
)
from chatledger.infrastructure.http.paging import CursorQuery, LimitQuery, cursor_for, position_of
from chatledger.infrastructure.http.results import ERROR_RESPONSES, ForbiddenError, as_response
from chatledger.projections.listing import Role, Status

router = APIRouter(prefix="/v1", tags=["reading"], responses=ERROR_RESPONSES, dependencies=CHECKED)
UserIdPath = Annotated[str, Path(pattern=ID_PATTERN, examples=["user-42"])]
Since = Annotated[Instant | None, Query(description="Inclusive, ISO 8601 with a time zone.")]
Until = Annotated[Instant | None, Query(description="Exclusive, ISO 8601 with a time zone.")]


class ChatPage(CommandResult):
    """Chats, latest activity first: first and last event time, events, messages."""

    chats: list[dict[str, Any]] = Field(default_factory=list)
    next: str | None = None  # the cursor of the next page; None at the end


class MessagePage(CommandResult):
    """Rows of the messages table, in the chat's order."""

    messages: list[dict[str, Any]] = Field(default_factory=list)
    next: str | None = None


@router.get("/users/{user_id}/chats", responses={200: {"model": ChatPage}}, response_model=None)
def list_chats(
    user_id: UserIdPath, caller: CallerDep, wired: ServicesDep, since: Since = None,
    until: Until = None, limit: LimitQuery = 100, cursor: CursorQuery = None,
) -> Response:  # fmt: skip
    """A user's chats (every chat with an event in the range, if one is given)."""
    if user_id != caller.user_id and not caller.auditor:
        raise ForbiddenError("only an auditor key lists another user's chats")
    query = {"user_id": user_id, "since": since, "until": until}
    before = position_of(cursor, query)
    found = wired.read_side.list_chats(user_id, since=since, until=until, limit=limit,
                                       before_position=before)  # fmt: skip
    page = ChatPage(**found.model_dump(exclude={"next_position"}),
                    next=cursor_for(found.next_position, query))  # fmt: skip
    return as_response(page)


@router.get("/chats/{chat_id:path}/messages", responses={200: {"model": MessagePage}},
            response_model=None)  # fmt: skip
def list_messages(
    chat_id: ChatIdPath, caller: CallerDep, wired: ServicesDep,
    role: Annotated[Role | None, Query(description=f"One of {', '.join(ROLES)}.")] = None,
    model: Annotated[str | None, Query(max_length=128, description="The model asked.")] = None,
    status: Annotated[Status | None, Query(description="recorded, streaming, completed, "
                                           "failed or abandoned.")] = None,
    since: Since = None, until: Until = None, limit: LimitQuery = 100,
    cursor: CursorQuery = None,
    with_content: Annotated[bool | None, Query(description="Default: yes for the chat's "
                                               "owner, no for an auditor.")] = None,
) -> Response:  # fmt: skip
    """A chat's messages as the messages table has them: role, status, model, tokens,
    timings, tool calls, finish reasons, error codes, and content."""
    filters = {"role": role, "model": model, "status": status, "since": since, "until": until}
    query = {"chat_id": chat_id, **filters}
    after = position_of(cursor, query) or 0
    shown = with_content if with_content is not None else not caller.auditor
    given = {k: v for k, v in filters.items() if v is not None}
    found = wired.read_side.list_messages(
        chat_id, acting_user(wired, caller, chat_id), **given, after_position=after, limit=limit,
        with_content=shown,
    )  # fmt: skip
    page = MessagePage(**found.model_dump(exclude={"next_position"}),
                       next=cursor_for(found.next_position, query))  # fmt: skip
    return as_response(page)
