"""What every HTTP endpoint is given: the wired services and the authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import PersistenceError
from fastapi import Depends, Header, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from chatledger.domain.chat import Chat
from chatledger.domain.input_types import ID_PATTERN
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.http.idempotency_store import IdempotencyStore
from chatledger.infrastructure.http.rate_limits import KeyRateLimits, RateLimitedError
from chatledger.infrastructure.http.results import ForbiddenError, NotAuthenticatedError
from chatledger.infrastructure.observability.metrics import ServiceMetrics
from chatledger.infrastructure.security.api_keys import ApiKeyStore, Role, Scope
from chatledger.infrastructure.settings import Settings
from chatledger.projections.read_side import ReadSide

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
    idempotency: IdempotencyStore
    metrics: ServiceMetrics
    rate_limits: KeyRateLimits
    head_at_start: int = 0  # the log's head when the service started (readiness)


@dataclass(frozen=True)
class Caller:
    key_id: str
    user_id: str  # the user the request acts for: the key's own, or a service key's choice
    role: Role
    scopes: frozenset[Scope] = frozenset()

    @property
    def auditor(self) -> bool:
        """Reads every user's chats: an auditor key, or a service key with the audit scope."""
        return Scope.audit in self.scopes

    def require(self, scope: Scope) -> Caller:
        if scope not in self.scopes:
            raise ForbiddenError(f"this key has no {scope.value} scope")
        return self


def wired_services(request: Request) -> Services:
    wired: Services = request.app.state.services
    return wired


async def services(request: Request) -> Services:
    """Async, as every dependency that does no I/O: FastAPI runs plain functions in its thread
    pool, and each hand-over there costs more than the work."""
    return wired_services(request)


ActingUser = Annotated[
    str | None,
    Header(alias="X-ChatLedger-User", pattern=ID_PATTERN, description="Service keys only: the "
           "user this request acts for (default: the key's own user id)."),
]  # fmt: skip


def authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    acting_for: ActingUser = None,
) -> Caller:
    if credentials is None:
        raise NotAuthenticatedError
    try:
        key = wired_services(request).keys.authenticate(credentials.credentials)
    except PersistenceError:
        raise StoreUnavailableError from None
    if key is None:
        raise NotAuthenticatedError
    request.state.key_id = key.key_id
    try:
        wired_services(request).rate_limits.check(key.key_id)
    except RateLimitedError:
        wired_services(request).metrics.rate_limited.inc()
        raise
    user_id = key.user_id
    if acting_for is not None and acting_for != key.user_id:
        if key.role is not Role.service:
            raise ForbiddenError("only a service key acts for another user")
        user_id = acting_for
    request.state.user_id, request.state.key_id = user_id, key.key_id  # for the log line
    return Caller(key.key_id, user_id, key.role, key.allowed)


async def writer(caller: Annotated[Caller, Depends(authenticated)]) -> Caller:
    """Recording needs the write scope: user keys and service keys that have it."""
    return caller.require(Scope.write)


async def reader(caller: Annotated[Caller, Depends(authenticated)]) -> Caller:
    return caller.require(Scope.read)


async def eraser(caller: Annotated[Caller, Depends(authenticated)]) -> Caller:
    return caller.require(Scope.erase)


async def administrator(caller: Annotated[Caller, Depends(authenticated)]) -> Caller:
    return caller.require(Scope.admin)


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
    """Unknown query parameters are refused, not ignored (a misspelt audit filter would answer
    with the whole trail), and so is a repeated one that takes one value (which one counts?)."""
    declared = query_parameters(request.scope.get("route"))
    names = [name for name, _ in request.query_params.multi_items()]
    unknown = not set(names) <= set(declared)
    repeated = any(
        names.count(name) > 1 and not declared[name] for name in set(names) & set(declared)
    )
    if unknown or repeated:
        problem = "unknown query parameter" if unknown else "a query parameter given twice"
        # The names are input: not echoed.
        raise RequestValidationError(
            [{"loc": ("query",), "msg": problem, "type": "extra_forbidden"}]
        )


def query_parameters(route: Any) -> dict[str, bool]:
    """The query parameters a route declares (its dependencies' included): whether each takes
    a list."""
    declared: dict[str, bool] = {}
    pending = [getattr(route, "dependant", None)]
    while pending:
        dependant = pending.pop()
        if dependant is not None:
            for parameter in dependant.query_params:
                declared[parameter.alias] = "list[" in str(parameter.field_info.annotation)
            pending.extend(dependant.dependencies)
    return declared


CallerDep = Annotated[Caller, Depends(reader)]  # a reading route's caller
WriterDep = Annotated[Caller, Depends(writer)]
EraserDep = Annotated[Caller, Depends(eraser)]
AdminDep = Annotated[Caller, Depends(administrator)]
ServicesDep = Annotated[Services, Depends(services)]
# `{chat_id:path}` in the routes: ids may hold "/", sent percent-encoded (%2F).
ChatIdPath = Annotated[str, Path(pattern=ID_PATTERN, examples=["chat-1"])]
MessageIdPath = Annotated[str, Path(pattern=ID_PATTERN, examples=["stream-1"])]
CHECKED = [Depends(known_query_only)]
