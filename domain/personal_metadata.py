"""Personal metadata: metadata a backend marks as the user's own, stored sealed under the chat
owner's key like content, so that erasing the user shreds it too."""

from __future__ import annotations

import json
from typing import Any

from chatledger.domain.ports import (
    ERASED_CONTENT,
    UNREADABLE_CONTENT,
    ContentProtector,
    personal_metadata_binding,
)

# What readers get: the object, or ERASED_CONTENT / UNREADABLE_CONTENT in its place.
OpenedMetadata = dict[str, Any] | str


def canonical_json(value: dict[str, Any]) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def seal_personal_metadata(
    protector: ContentProtector, owner_id: str, chat_id: str, message_id: str,
    value: dict[str, Any],
) -> str:  # fmt: skip
    """The stored form: sealed canonical JSON text. An empty object is "": it reveals nothing
    and needs no key (as empty content)."""
    if not value:
        return ""
    binding = personal_metadata_binding(chat_id, message_id)
    return protector.seal(owner_id, canonical_json(value), binding)


def open_personal_metadata(
    protector: ContentProtector, owner_id: str, chat_id: str, message_id: str, stored: str
) -> OpenedMetadata:
    """The object while the owner's key exists; ERASED_CONTENT after an erasure; and
    UNREADABLE_CONTENT for a sealed text that does not open (altered, or moved)."""
    if not stored:
        return {}
    text = protector.unseal(owner_id, stored, personal_metadata_binding(chat_id, message_id))
    if text in (ERASED_CONTENT, UNREADABLE_CONTENT):
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return UNREADABLE_CONTENT
    return value if isinstance(value, dict) else UNREADABLE_CONTENT
