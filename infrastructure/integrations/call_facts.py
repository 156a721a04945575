"""What every provider's call comes down to for the ledger: a reply and its facts, the usage it
reports, and the error code of a call that failed. Shared by the OpenAI and Anthropic drop-ins."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chatledger.domain.conversation_keys import next_key

# The SDKs (both made by the same generator) name their errors alike; the status code decides
# for the rest. The provider's own message is not recorded: it may quote the request.
ERROR_CODES = {
    "RateLimitError": "PROVIDER_RATE_LIMITED",
    "InternalServerError": "PROVIDER_SERVER_ERROR",
    "APITimeoutError": "PROVIDER_TIMEOUT",
    "APIConnectionError": "PROVIDER_CONNECTION_ERROR",
    "BadRequestError": "PROVIDER_BAD_REQUEST",
    "AuthenticationError": "PROVIDER_AUTH_ERROR",
    "PermissionDeniedError": "PROVIDER_AUTH_ERROR",
    "NotFoundError": "PROVIDER_NOT_FOUND",
    "OverloadedError": "PROVIDER_OVERLOADED",
}
# Transport errors the SDKs wrap (as APIConnectionError): the answer was cut off mid-way.
CUT_OFF = {"RemoteProtocolError", "ReadError", "IncompleteRead"}


@dataclass
class Reply:
    """A model's answer as the ledger records it, whole or put together from a stream."""

    content: str = ""
    tool_calls: list[Any] = field(default_factory=list)
    refusal: str | None = None
    finish_reasons: list[str] = field(default_factory=list)
    response_id: str | None = None
    response_model: str | None = None
    usage: dict[str, Any] | None = None

    def facts(self) -> dict[str, Any]:
        """The reply's fields for persist_assistant_message and complete_stream."""
        given = {"tool_calls": self.tool_calls or None, "refusal": self.refusal,
                 "finish_reasons": self.finish_reasons or None, "response_id": self.response_id,
                 "response_model": self.response_model, "usage": self.usage}  # fmt: skip
        return {k: v for k, v in given.items() if v is not None}

    def place_after(self, previous_key: str) -> str:
        """The reply's place in the conversation, after the prompt's last message."""
        item = {"role": "assistant", "content": self.content, "tool_calls": self.tool_calls}
        return next_key(previous_key, item)


def as_plain(value: Any) -> Any:
    """SDK objects (pydantic models) as plain JSON values; dicts and lists stay as they are."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_none=True)
    if isinstance(value, Mapping):  # a message dict may hold the SDK's blocks or tool calls
        return {key: as_plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [as_plain(item) for item in value]
    return value


def usage_of(**counts: Any) -> dict[str, Any] | None:
    """ProviderUsage fields of the counts a provider reported (whole numbers only)."""
    reported = {k: v for k, v in counts.items() if isinstance(v, int) and not isinstance(v, bool)}
    return reported or None


def error_code(error: BaseException) -> str:
    """The code a failed call is recorded with."""
    if any(type(cause).__name__ in CUT_OFF for cause in causes(error)):
        return "PROVIDER_STREAM_CUT"
    for kind in type(error).__mro__:
        if kind.__name__ in ERROR_CODES:
            return ERROR_CODES[kind.__name__]
    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        return "PROVIDER_SERVER_ERROR" if status >= 500 else f"PROVIDER_HTTP_{status}"
    return "MODEL_CALL_FAILED"  # before or beside the provider (a wrong argument, ...)


def causes(error: BaseException) -> list[BaseException]:
    """The error and what it was raised from, outermost first."""
    chain = [error]
    while chain[-1].__cause__ is not None and len(chain) < 8:
        chain.append(chain[-1].__cause__)
    return chain


def error_summary(error: BaseException) -> str:
    """What the record says of the error: its kind, HTTP status and provider error type."""
    summary = type(error).__name__
    status = getattr(error, "status_code", None)
    body = getattr(error, "body", None)
    kind = body.get("type") if isinstance(body, Mapping) else None
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        kind = body["error"].get("type") or body["error"].get("code") or kind
    if isinstance(status, int):
        summary += f" (HTTP {status})"
    if isinstance(kind, str):
        summary += f": {kind[:100]}"
    return summary
