"""The chat-log formats `chatledger ingest` reads, one conversation per line:

- chatledger: `{"conversation_id", "model"?, "source"?, "messages": [...]}` (../shared/data),
- openai: `{"messages": [...], "model"?, "id"?}`, messages as OpenAI's chat format has them
  (every role, content as text or parts, tool_calls, tool_call_id, name, refusal),
- sharegpt: `{"conversations": [{"from": "human", "value": ...}, ...], "id"?}`.

Turns keep their role: ShareGPT's speakers are mapped to chat roles, and one it does not name
stays as it is, so that the message is refused (VALIDATION_ERROR) rather than recast. A line
without an id gets one from its bytes, so that a second ingest records nothing again."""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any


class Format(StrEnum):
    auto = "auto"  # from the file's first line
    chatledger = "chatledger"
    openai = "openai"
    sharegpt = "sharegpt"


SHAREGPT_ROLES = {
    "human": "user", "user": "user",
    "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant", "bard": "assistant",
    "bing": "assistant", "model": "assistant",
    "system": "system",
    "tool": "tool", "observation": "tool", "function_response": "tool",
}  # fmt: skip


class FormatError(ValueError):
    """A line that is not a conversation of the format (the reason, never the line)."""


def detect(document: Any) -> str:
    """The format of a file, from its first conversation."""
    if isinstance(document, dict) and "conversations" in document:
        return "sharegpt"
    if isinstance(document, dict) and "conversation_id" in document:
        return "chatledger"
    return "openai"


def conversation_fields(document: Any, raw_line: bytes, format_name: str) -> dict[str, Any]:
    """The fields of a Conversation (conversations.py) that one line holds."""
    if not isinstance(document, dict):
        raise FormatError("a line must be a JSON object")
    if format_name == "sharegpt":
        return sharegpt(document, raw_line)
    if format_name == "chatledger" and "conversation_id" not in document:
        raise FormatError("a chatledger line needs conversation_id")
    messages = document.get("messages")
    if not isinstance(messages, list):
        raise FormatError('a line needs "messages", a list')
    return conversation(document, raw_line, "openai", messages)


def sharegpt(document: dict[str, Any], raw_line: bytes) -> dict[str, Any]:
    turns = document.get("conversations")
    if not isinstance(turns, list):
        raise FormatError('a sharegpt line needs "conversations", a list')
    return conversation(document, raw_line, "sharegpt", [sharegpt_turn(turn) for turn in turns])


def conversation(
    document: dict[str, Any], raw_line: bytes, format_name: str, messages: list[Any]
) -> dict[str, Any]:
    return {
        "conversation_id": own_id(document) or line_id(format_name, raw_line),
        "model": document.get("model"),
        "source": document.get("source", format_name if format_name == "sharegpt" else None),
        "messages": messages,
    }


def sharegpt_turn(turn: Any) -> Any:
    if not isinstance(turn, dict):
        return turn  # refused as a message, on its own
    speaker = turn.get("from")
    role = SHAREGPT_ROLES.get(speaker.lower(), speaker) if isinstance(speaker, str) else speaker
    return {"role": role, "content": turn.get("value")}


def own_id(document: dict[str, Any]) -> str | None:
    for key in ("conversation_id", "id"):
        value = document.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    return None


def line_id(format_name: str, raw_line: bytes) -> str:
    return f"{format_name}:{hashlib.sha256(raw_line.strip()).hexdigest()[:16]}"
