"""A message's place in a conversation as clients of model APIs send it: the digest of the chat
and of every message up to and including it.

Such clients resend the whole history with every call. Keyed by its place (as its idempotency
key), each message is recorded once however often it is resent; an edited turn or a branch puts
another message at a place, so it gets another key and is recorded too. A reply is keyed when it
is recorded (`conversation_key`, an alias that never refuses a reply): the same words sent back
in the next call's history are then known as that reply, whether it came whole or streamed.

An assistant turn is known by its words and the ids of its tool calls only: a reply recorded from
a provider's response and the same turn as the client sends it back differ in every other field
(`content` None or "", the tool calls' shape, a refusal the client leaves out)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

KEY_PREFIX = "place:"


def message_fingerprint(item: Mapping[str, Any]) -> Any:
    """What identifies a message at its place: its role, and what it says."""
    role = item.get("role")
    if role == "assistant":
        calls = item.get("tool_calls") or []
        return [role, spoken_text(item.get("content")),
                [call.get("id") for call in calls if isinstance(call, Mapping)]]  # fmt: skip
    return [role, item.get("content"), item.get("name"), item.get("tool_call_id")]


def spoken_text(content: Any) -> str:
    """A turn's words: a text, or its text parts one after the other."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text") or ""
            for part in content
            if isinstance(part, Mapping) and part.get("type") in ("text", "output_text")
        )
    return ""


def next_key(previous: str, item: Mapping[str, Any]) -> str:
    """The key of the message after the one keyed `previous` (or after the chat's start)."""
    digest = hashlib.sha256(previous.encode())
    canonical = json.dumps(message_fingerprint(item), sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"), default=str)  # fmt: skip
    digest.update(canonical.encode("utf-8", "surrogatepass"))
    return KEY_PREFIX + digest.hexdigest()[:48]


def first_key(chat_id: str) -> str:
    """The place before the first message of a chat."""
    return KEY_PREFIX + hashlib.sha256(f"chat\x00{chat_id}".encode()).hexdigest()[:48]


def conversation_keys(chat_id: str, items: Iterable[Mapping[str, Any]]) -> list[str]:
    """Each message's key, in order."""
    keys: list[str] = []
    previous = first_key(chat_id)
    for item in items:
        previous = next_key(previous, item)
        keys.append(previous)
    return keys
