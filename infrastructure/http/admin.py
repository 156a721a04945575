"""Managing the service over HTTP: API keys (admin scope) and erasure (erase scope). Keys are
shown once, when made; stored as digests; every use is logged with the key id, never the key."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from chatledger.domain.erasure import ErasureResult
from chatledger.domain.errors import ChatLedgerError, ErrorCode
from chatledger.domain.input_types import ID_PATTERN, StrictInput
from chatledger.infrastructure.http.context import CHECKED, AdminDep, EraserDep, ServicesDep
from chatledger.infrastructure.http.results import ERROR_RESPONSES, as_response, error_response
from chatledger.infrastructure.security.api_keys import MAX_OVERLAP, ApiKey, Role, Scope
from chatledger.infrastructure.security.user_erasure import erase_user_and_keys

router = APIRouter(prefix="/v1", tags=["operations"], responses=ERROR_RESPONSES,
                   dependencies=CHECKED)  # fmt: skip
KeyIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{12}$", examples=["3fa85f64a1b2"])]
UserIdPath = Annotated[str, Path(pattern=ID_PATTERN, examples=["user-42"])]


class NewKeyBody(StrictInput):
    """Checked by the key store: the role and scopes by name (user, auditor, service; write,
    read, audit, erase, admin)."""

    user_id: str
    role: str = Field(default="user", description="user, auditor or service.")
    scopes: list[str] = Field(
        default_factory=list, max_length=5,
        description="A service key's: write, read, audit, erase, admin.",
    )  # fmt: skip


class RotateBody(StrictInput):
    overlap_seconds: int = Field(default=86_400, ge=0, le=int(MAX_OVERLAP.total_seconds()),
                                 description="How long the old key keeps working.")  # fmt: skip


class ErasureBody(StrictInput):
    reason: str = Field(min_length=1, max_length=2000)
    requested_by: str = Field(pattern=ID_PATTERN)


class KeyView(BaseModel):
    key_id: str
    user_id: str
    role: Role
    scopes: list[Scope]
    created_at: str
    revoked_at: str | None
    expires_at: str | None


class IssuedKeyView(BaseModel):
    key: KeyView
    api_key: str  # shown once: only its digest is stored


class KeyList(BaseModel):
    keys: list[KeyView]


class UserErasure(ErasureResult):
    revoked_keys: int = 0


def view(key: ApiKey) -> KeyView:
    return KeyView(**{**asdict(key), "scopes": sorted(key.allowed)})


@router.post("/keys", status_code=201, response_model=IssuedKeyView)
def create_key(body: NewKeyBody, caller: AdminDep, wired: ServicesDep) -> Any:
    """Make a key for a user id: `user` (its own chats), `auditor` (reads every chat) or
    `service` (acts for the user each request names in X-ChatLedger-User, by its scopes)."""
    try:
        issued = wired.keys.create(body.user_id, body.role, body.scopes)
    except ChatLedgerError as error:
        return error_response(422, error.code, error.message, details=error.details)
    return IssuedKeyView(key=view(issued.key), api_key=issued.secret)


@router.get("/keys", response_model=KeyList)
def list_keys(
    caller: AdminDep, wired: ServicesDep,
    user_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="Of one user.")] = None,
) -> Any:  # fmt: skip
    """Every key (never the key itself): its id, user, role, scopes, and when it was made,
    revoked or ends."""
    return KeyList(keys=[view(key) for key in wired.keys.keys(user_id)])


@router.delete("/keys/{key_id}", response_model=KeyView)
def revoke_key(key_id: KeyIdPath, caller: AdminDep, wired: ServicesDep) -> Any:
    """Revoke a key at once: its next request answers 401."""
    key = wired.keys.revoke(key_id)
    return view(key) if key else error_response(404, ErrorCode.NOT_FOUND, "no such key")


@router.post("/keys/{key_id}/rotate", status_code=201, response_model=IssuedKeyView)
def rotate_key(key_id: KeyIdPath, body: RotateBody, caller: AdminDep, wired: ServicesDep) -> Any:
    """A new key like this one; the old one keeps working `overlap_seconds` longer."""
    issued = wired.keys.rotate(key_id, timedelta(seconds=body.overlap_seconds))
    if issued is None:
        return error_response(404, ErrorCode.NOT_FOUND, "no such active key")
    return IssuedKeyView(key=view(issued.key), api_key=issued.secret)


@router.post("/users/{user_id}/erase", responses={200: {"model": UserErasure}},
             response_model=None)  # fmt: skip
def erase_user(
    user_id: UserIdPath, body: ErasureBody, caller: EraserDep, wired: ServicesDep
) -> Response:
    """Erase a user (docs/erasure.md): the content key is destroyed, the content reads
    "[erased]" everywhere, and the user's own API keys are revoked."""
    result, revoked = erase_user_and_keys(
        wired.read_side, wired.keys, user_id, reason=body.reason, requested_by=body.requested_by
    )
    return as_response(UserErasure(**result.model_dump(), revoked_keys=revoked))
