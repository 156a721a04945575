"""Error codes the pipeline returns, each with a recovery hint, and the exception carrying one."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    CHAT_NOT_FOUND = "CHAT_NOT_FOUND"
    UNAUTHORIZED = "UNAUTHORIZED"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    CONFLICT = "CONFLICT"
    PERSISTENCE_ERROR = "PERSISTENCE_ERROR"
    STREAM_NOT_OPEN = "STREAM_NOT_OPEN"
    STREAM_ABANDONED = "STREAM_ABANDONED"
    USER_ERASED = "USER_ERASED"
    USER_NOT_FOUND = "USER_NOT_FOUND"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    # A stored event of the chat cannot be read back (a disk error, a bad restore, tampering).
    CHAT_DAMAGED = "CHAT_DAMAGED"
    # Of the HTTP service: a path it does not serve, a method a path does not take.
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    RATE_LIMITED = "RATE_LIMITED"


RECOVERY_HINTS: dict[ErrorCode, str] = {
    ErrorCode.CHAT_NOT_FOUND: "Start the chat with start_chat() first, or check the chat id.",
    ErrorCode.UNAUTHORIZED: "Only the user who started a chat may use it; check the user id.",
    ErrorCode.VALIDATION_ERROR: "Fix the fields named in details and send the request again.",
    ErrorCode.CONFLICT: (
        "The id is already taken by different content, or the chat stayed contended; "
        "use a new message id, or retry later with the same one."
    ),
    # Not "nothing was recorded": a connection lost during the commit (a server killed) can
    # lose the answer to a commit that went through (tests/test_durability_faults.py).
    ErrorCode.PERSISTENCE_ERROR: (
        "The event store failed or was unreachable; retry with the same message id or "
        "idempotency key. A retry never records twice: if the failed attempt was recorded after "
        "all (a connection lost mid-commit), it answers that original result."
    ),
    ErrorCode.STREAM_NOT_OPEN: (
        "The stream was already completed, failed or reaped; open a new stream for a new reply."
    ),
    ErrorCode.STREAM_ABANDONED: "The stream never completed; regenerate the reply.",
    ErrorCode.USER_ERASED: (
        "The user was erased (right to erasure): nothing more is recorded for this user id."
    ),
    ErrorCode.USER_NOT_FOUND: "No chat and no key of this user id exist; check the user id.",
    ErrorCode.INTERNAL_ERROR: "Unexpected error; report it with the chat and message ids.",
    ErrorCode.CHAT_DAMAGED: (
        "An event of this chat cannot be read (details name it); nothing more is recorded in "
        "the chat. Run `chatledger verify`, restore the event from a backup, then "
        "`chatledger rebuild`; the chat's other events can still be read."
    ),
    ErrorCode.NOT_FOUND: "Check the path against /openapi.json.",
    ErrorCode.METHOD_NOT_ALLOWED: "Use a method the Allow header names.",
    ErrorCode.RATE_LIMITED: "Slow down: retry after the seconds Retry-After names.",
}


class ChatLedgerError(Exception):
    """An expected failure of a command; the pipeline turns it into an error result."""

    def __init__(self, code: ErrorCode, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}

    @property
    def recovery_hint(self) -> str:
        return RECOVERY_HINTS[self.code]
