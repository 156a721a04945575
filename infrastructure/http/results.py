"""Results as HTTP responses: the CommandResult body of the Python API, with a status code that
fits its error code, and the errors that arise before a command runs (key, body, route)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.responses import Response

from chatledger.domain.boundary import described_problems, problems_message
from chatledger.domain.errors import RECOVERY_HINTS, ErrorCode
from chatledger.domain.messages import CommandError, CommandResult
from chatledger.infrastructure.http.rate_limits import RateLimitedError

ERROR_STATUS = {
    # Another user's chat answers exactly like a missing one over HTTP: a public API must not
    # tell a caller which chat ids exist (README, "Who may see a chat").
    ErrorCode.CHAT_NOT_FOUND: 404,
    ErrorCode.UNAUTHORIZED: 404,
    ErrorCode.VALIDATION_ERROR: 422,
    ErrorCode.CONFLICT: 409,
    ErrorCode.STREAM_NOT_OPEN: 409,
    ErrorCode.STREAM_ABANDONED: 409,
    ErrorCode.PERSISTENCE_ERROR: 503,
    ErrorCode.USER_ERASED: 410,
    ErrorCode.USER_NOT_FOUND: 404,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.RATE_LIMITED: 429,
    # The chat's state cannot be read back, so nothing more is appended to it; its events that
    # read are still answered (with `damaged_chats`).
    ErrorCode.CHAT_DAMAGED: 409,
}
RETRY_AFTER_S = "1"  # a store that failed is usually back within the lock timeout
JSON = "application/json"


class NotAuthenticatedError(Exception):
    """No key, a malformed one, an unknown one or a revoked one: 401."""


class ForbiddenError(Exception):
    """A valid key whose role may not do this (an auditor writing, a user reading another
    user's statistics): 403. Says nothing about any chat."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def as_response(result: BaseModel, *, created: bool = False) -> Response:
    """The result's JSON with its status: 201 when something was recorded, 200 for a duplicate
    or a query, the error's status otherwise (503 with Retry-After)."""
    error = result.error if isinstance(result, CommandResult) else None
    if isinstance(result, CommandResult) and error is not None:
        if error.code is ErrorCode.UNAUTHORIZED:
            result = result.model_copy(update={"error": not_found(error.details.get("chat_id"))})
        status = ERROR_STATUS[error.code]
    else:
        status = 201 if created and not getattr(result, "duplicate", False) else 200
    headers = {"Retry-After": RETRY_AFTER_S} if status == 503 else None
    return Response(result.model_dump_json(), status, headers, media_type=JSON)


def not_found(chat_id: Any) -> CommandError:
    """The very error the pipeline gives for a chat that does not exist."""
    code = ErrorCode.CHAT_NOT_FOUND
    return CommandError(code=code, message="no chat with this id", details={"chat_id": chat_id},
                        recovery_hint=RECOVERY_HINTS[code])  # fmt: skip


def error_response(
    status: int,
    code: ErrorCode,
    message: str,
    hint: str | None = None,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    error = CommandError(code=code, message=message, details=details or {},
                         recovery_hint=hint or RECOVERY_HINTS[code])  # fmt: skip
    body = CommandResult(success=False, error=error).model_dump_json()
    return Response(body, status, headers, media_type=JSON)


async def unauthenticated(request: Request, error: Exception) -> Response:
    return error_response(
        401, ErrorCode.UNAUTHORIZED, "a valid API key is required",
        "Send Authorization: Bearer <key>; keys are made with `chatledger keys create`.",
        headers={"WWW-Authenticate": "Bearer"},
    )  # fmt: skip


async def forbidden(request: Request, error: Exception) -> Response:
    message = error.message if isinstance(error, ForbiddenError) else "not allowed"
    return error_response(403, ErrorCode.UNAUTHORIZED, message, "Use a key whose role may do this.")


async def invalid_request(request: Request, error: Exception) -> Response:
    """Request validation: the fields and problems, never the values sent (as the pipeline)."""
    problems = []
    if isinstance(error, RequestValidationError):
        problems = described_problems(error.errors())
    return error_response(422, ErrorCode.VALIDATION_ERROR,
                          problems_message(problems) or "the request is not valid",
                          details={"errors": problems})  # fmt: skip


async def http_error(request: Request, error: Exception) -> Response:
    """Routing errors (no such endpoint, method not allowed) in the same body as the rest."""
    status = error.status_code if isinstance(error, HTTPException) else 400
    if status == 400:  # FastAPI's answer to a body it cannot decode (not UTF-8, say)
        return error_response(422, ErrorCode.VALIDATION_ERROR, "the body is not JSON text")
    headers = getattr(error, "headers", None)
    if status in (404, 405):
        code = ErrorCode.NOT_FOUND if status == 404 else ErrorCode.METHOD_NOT_ALLOWED
        message = "no such endpoint" if status == 404 else "method not allowed here"
        return error_response(status, code, message, headers=headers)
    return error_response(status, ErrorCode.VALIDATION_ERROR, "bad request",
                          "Check the method and path against /openapi.json.",
                          headers=headers)  # fmt: skip


async def rate_limited(request: Request, error: Exception) -> Response:
    after = str(getattr(error, "retry_after_s", 1))
    return error_response(429, ErrorCode.RATE_LIMITED, "this key is over its rate",
                          f"Retry after {after} s.", headers={"Retry-After": after})  # fmt: skip


HANDLERS: dict[Any, Callable[[Request, Any], Coroutine[Any, Any, Response]]] = {
    NotAuthenticatedError: unauthenticated,
    ForbiddenError: forbidden,
    RequestValidationError: invalid_request,
    HTTPException: http_error,
    RateLimitedError: rate_limited,
}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": CommandResult, "description": description}
    for status, description in {
        401: "No API key, or an unknown or revoked one (UNAUTHORIZED)",
        403: "The key's role may not do this (UNAUTHORIZED)",
        404: "No such chat, or not the caller's (CHAT_NOT_FOUND alike)",
        409: "CONFLICT, or STREAM_NOT_OPEN",
        410: "USER_ERASED: the user was erased; nothing more is recorded for it",
        413: "Request body too large (VALIDATION_ERROR)",
        429: "RATE_LIMITED: the key is over its rate (Retry-After)",
        422: "VALIDATION_ERROR: details.errors names the fields",
        500: "INTERNAL_ERROR",
        503: "PERSISTENCE_ERROR: retry with the same ids (Retry-After); never recorded twice",
    }.items()
}
