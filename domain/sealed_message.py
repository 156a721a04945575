"""The parts, tool calls and refusal of a message as its event records them, and back.

Everything a user or a model wrote is sealed under the chat owner's key, like content: a part's
inline data, URL and file name (a signed URL carries a secret, a file name a person's name), tool
call arguments, a refusal, the participant's `name` (often the end user's own). Ids, types, media
types, sizes and hashes stay in the clear, so audits and statistics keep their shape after an
erasure. Names recorded before they were sealed read back as stored (the protector opens only
envelopes), and `[erased]` once their owner is erased. Text parts are not stored twice: the
event's `content` holds their text one after the other, and each text part its length."""

from __future__ import annotations

from typing import Any

from chatledger.domain.content_parts import ContentPart
from chatledger.domain.generation_facts import ToolCall
from chatledger.domain.ports import ContentProtector, field_binding

SEALED_PART_FIELDS = ("data", "url", "filename")


class Sealer:
    """Seals the fields of one message under its chat owner's key."""

    def __init__(self, protector: ContentProtector, owner_id: str, chat_id: str, message_id: str):
        self.protector, self.owner_id = protector, owner_id
        self.chat_id, self.message_id = chat_id, message_id

    def seal(self, field: str, text: str) -> str:
        binding = field_binding(self.chat_id, self.message_id, field)
        return self.protector.seal(self.owner_id, text, binding)

    def parts(self, parts: list[ContentPart]) -> list[dict[str, Any]]:
        recorded = []
        for index, part in enumerate(parts):
            fields = part.model_dump(exclude_none=True, exclude={"text"})
            if part.type == "text":
                fields["length"] = len(part.text or "")
            for name in SEALED_PART_FIELDS:
                if name in fields:
                    fields[name] = self.seal(f"parts.{index}.{name}", fields[name])
            recorded.append(fields)
        return recorded

    def tool_calls(self, calls: list[ToolCall]) -> list[dict[str, Any]]:
        return [
            {
                **call.model_dump(),
                "arguments": self.seal(f"tool_calls.{i}.arguments", call.arguments),
            }
            for i, call in enumerate(calls)
        ]


class Opener:
    """Opens what a Sealer sealed, for one recorded event (through the protector: erased
    owners read ERASED_CONTENT)."""

    def __init__(self, event: Any, protector: ContentProtector) -> None:
        self.fields = vars(event)
        self.protector, self.event = protector, event

    def open(self, field: str, stored: str) -> str:
        binding = field_binding(self.event.originator_id, self.fields["message_id"], field)
        return self.protector.unseal(self.fields["user_id"], stored, binding)

    def parts(self, content: str) -> list[dict[str, Any]] | None:
        """The parts as sent (canonical form), text parts cut from the opened `content`; where
        that is the mark of an erased or unreadable text, each text part shows the mark."""
        recorded = self.fields.get("parts")
        if recorded is None:
            return None
        cut = len(content) == sum(p.get("length", 0) for p in recorded)
        parts, offset = [], 0
        for index, stored in enumerate(recorded):
            part = {k: v for k, v in stored.items() if k != "length"}
            if stored["type"] == "text":
                part["text"] = content[offset : offset + stored["length"]] if cut else content
                offset += stored["length"]
            for name in SEALED_PART_FIELDS:
                if name in part:
                    part[name] = self.open(f"parts.{index}.{name}", part[name])
            parts.append(part)
        return parts

    def tool_calls(self) -> list[dict[str, Any]] | None:
        calls = self.fields.get("tool_calls")
        if calls is None:
            return None
        return [
            {**call, "arguments": self.open(f"tool_calls.{i}.arguments", call["arguments"])}
            for i, call in enumerate(calls)
        ]

    def refusal(self) -> str | None:
        stored = self.fields.get("refusal")
        return None if stored is None else self.open("refusal", stored)

    def name(self) -> str | None:
        stored = self.fields.get("name")
        return None if stored is None else self.open("name", stored)
