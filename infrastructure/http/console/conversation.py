"""A conversation: its messages in order with every recorded fact, from its events alone; and
time travel, the chat as it was at any version or time, with what each event changed."""

from __future__ import annotations

import json
from contextlib import suppress
from dataclasses import dataclass
from typing import Annotated, Any

from eventsourcing.persistence import PersistenceError
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from chatledger.domain.ports import ERASED_CONTENT
from chatledger.domain.query_bounds import Instant, Version
from chatledger.domain.unreadable_events import chat_owner
from chatledger.infrastructure.http.console.access import AuditorDep, render
from chatledger.infrastructure.http.console.chat_urls import SentPathRoute
from chatledger.infrastructure.http.context import (
    Services,
    StoreUnavailableError,
    wired_services,
)
from chatledger.projections.read_side import ReplayResult

router = APIRouter(prefix="/console", include_in_schema=False, route_class=SentPathRoute)
JSON_COLUMNS = ("parts", "tool_calls", "finish_reasons", "metadata", "personal_metadata",
                "context_items", "intent_keywords")  # fmt: skip


@dataclass(frozen=True)
class ChatFacts:
    owner_id: str
    version: int  # of its last stored event


def chat_of(wired: Services, chat_id: str) -> ChatFacts | None:
    """The chat's owner (its first event) and last version, read from the stored events
    rather than folded, so that a chat with a damaged event still shows up to it."""
    try:
        last = wired.pipeline.recorder.select_events(chat_id, desc=True, limit=1)
        owner = chat_owner(wired.pipeline, chat_id) if last else None
    except PersistenceError:
        raise StoreUnavailableError from None
    return None if owner is None else ChatFacts(owner, last[0].originator_version)


def shown(message: dict[str, Any]) -> dict[str, Any]:
    """A replayed message as the page shows it: JSON columns decoded, erasure marked."""
    view = dict(message)
    for name in JSON_COLUMNS:
        text = view.get(name)
        if isinstance(text, str) and text not in ("", ERASED_CONTENT):
            with suppress(ValueError):  # else shown as the text it is
                view[name] = json.loads(text)
    view["erased"] = view.get("content") == ERASED_CONTENT
    return view


def missing(request: Request, auditor: Any, chat_id: str) -> Response:
    return render(request, "missing.html", {"auditor": auditor, "chat_id": chat_id}, 404)


def replayed(
    request: Request, auditor: Any, chat_id: str, version: int | None, at: Any
) -> tuple[ChatFacts, ReplayResult] | Response:
    wired = wired_services(request)
    chat = chat_of(wired, chat_id)
    if chat is None:
        return missing(request, auditor, chat_id)
    result = wired.read_side.replay_chat(chat_id, chat.owner_id, version, at)
    if result.chat is None:
        problem = result.error.message if result.error else "not replayable"
        return render(request, "missing.html", {"auditor": auditor, "chat_id": chat_id,
                      "problem": problem}, 422 if result.error else 404)  # fmt: skip
    return chat, result


def chat_page(
    request: Request, auditor: Any, chat_id: str, version: int | None, at: Any, template: str
) -> Response:
    answer = replayed(request, auditor, chat_id, version, at)
    if isinstance(answer, Response):
        return answer
    chat, result = answer
    assert result.chat is not None
    context = {"auditor": auditor, "chat": result.chat, "latest": chat.version,
               "messages": [shown(m) for m in result.chat.messages]}  # fmt: skip
    return render(request, template, context)


@router.get("/chats/{chat_id}/replay")
def time_travel(
    request: Request, chat_id: str, auditor: AuditorDep,
    version: Annotated[Version | None, Query()] = None,
    at: Annotated[Instant | None, Query()] = None,
) -> Response:  # fmt: skip
    return chat_page(request, auditor, chat_id, version, at, "replay.html")


@router.get("/chats/{chat_id}")
def conversation(request: Request, chat_id: str, auditor: AuditorDep) -> Response:
    return chat_page(request, auditor, chat_id, None, None, "chat.html")
