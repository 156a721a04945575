"""What every HTTP endpoint is given: the wired services and the authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import PersistenceError
from fastapi import Depends, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from domain.chat import Chat
from domain.messages import ID_PATTERN
from domain.pipeline import PersistencePipeline
from infrastructure.api_keys import ApiKeyStore, Role
from infrastructure.http_results import ForbiddenError, NotAuthenticatedError
from infrastructure.settings import Settings
from projections.read_side import ReadSide

bearer = HTTPBearer(
    auto_error=False, description="An API key from `chatledger keys create`, as a bearer token."
)


class StoreUnavailableError(Exception):
    """The store failed outside a command (key or owner lookup): 503, as PERSISTENCE_ERROR."""


@dataclass(frozen=True)
class Services:
    settings: Settings
    pipeline: PersistencePipeline
    read_side: ReadSide
    keys: ApiKeyStore


@dataclass(frozen=True)
class Caller:
    key_id: str
    user_id: str
    role: Role

    @property
    def auditor(self) -> bool:
        return self.role is Role.auditor


def services(request: Request) -> Services:
    wired: Services = request.app.state.services
    return wired


def authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    if credentials is None:
        raise NotAuthenticatedError
    try:
        key = services(request).keys.authenticate(credentials.credentials)
    except PersistenceError:
        raise StoreUnavailableError from None
    if key is None:
        raise NotAuthenticatedError
    request.state.user_id, request.state.key_id = key.user_id, key.key_id  # for the log line
    return Caller(key.key_id, key.user_id, key.role)


def writer(caller: Annotated[Caller, Depends(authenticated)]) -> Caller:
    """Auditors read; recording is for the keys of the users whose chats these are."""
    if caller.auditor:
        raise ForbiddenError("an auditor key records nothing")
    return caller


def acting_user(wired: Services, caller: Caller, chat_id: str) -> str:
    """Whose chat this is, as far as the caller may act: an auditor acts as the chat's owner,
    a user as itself (the read side then refuses other users' chats)."""
    if not caller.auditor:
        return caller.user_id
    try:
        chat: Chat = wired.pipeline.repository.get(chat_id)
    except AggregateNotFoundError:
        return caller.user_id  # the read side answers CHAT_NOT_FOUND
    except PersistenceError:
        raise StoreUnavailableError from None
    return chat.owner_id


async def known_query_only(request: Request) -> None:
    """Unknown query parameters are refused, not ignored: a misspelt audit filter would
    otherwise answer with the whole unfiltered trail."""
    if not set(request.query_params) <= query_names(request.scope.get("route")):
        problem = {"loc": ("query",), "msg": "unknown query parameter", "type": "extra_forbidden"}
        raise RequestValidationError([problem])  # the names are input: not echoed


def query_names(route: Any) -> frozenset[str]:
    """The query parameters a route declares, its dependencies' included."""
    names: set[str] = set()
    pending = [getattr(route, "dependant", None)]
    while pending:
        dependant = pending.pop()
        if dependant is not None:
            names.update(parameter.alias for parameter in dependant.query_params)
            pending.extend(dependant.dependencies)
    return frozenset(names)


CallerDep = Annotated[Caller, Depends(authenticated)]
WriterDep = Annotated[Caller, Depends(writer)]
ServicesDep = Annotated[Services, Depends(services)]
# `{chat_id:path}` in the routes: ids may hold "/", sent percent-encoded (%2F).
ChatIdPath = Annotated[str, Path(pattern=ID_PATTERN, examples=["chat-1"])]
MessageIdPath = Annotated[str, Path(pattern=ID_PATTERN, examples=["stream-1"])]
CHECKED = [Depends(known_query_only)]
