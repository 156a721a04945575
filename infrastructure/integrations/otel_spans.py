"""A recorded message as an OpenTelemetry span, in the GenAI semantic conventions' terms. Pure:
the event in, the span's name, kind, times and attributes out (otel_export.py emits it).

A reply (an assistant message, a completed or failed stream) is the model call's CLIENT span
`chat {model}`; every other message is an INTERNAL span `{role} message`. All the spans of a
chat share one trace, keyed by the chat id, so a tracing backend shows a conversation together.
Content (gen_ai.input.messages / gen_ai.output.messages, as the conventions shape them) only
when the operator asks for it, and never an erased user's."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from chatledger.domain.chat import Chat

REPLIES = (Chat.AssistantMessageRecorded, Chat.StreamCompleted, Chat.StreamFailed)
REQUEST = {"temperature": "gen_ai.request.temperature", "top_p": "gen_ai.request.top_p",
           "max_tokens": "gen_ai.request.max_tokens", "seed": "gen_ai.request.seed"}  # fmt: skip


@dataclass
class SpanPlan:
    name: str
    client: bool  # a model call (CLIENT), or a message recorded (INTERNAL)
    start_ns: int
    end_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)
    error_type: str | None = None


def chat_trace_ids(chat_id: str) -> tuple[int, int]:
    """The trace every span of the chat belongs to, and the (remote) parent they share."""
    digest = hashlib.sha256(f"chatledger chat\x00{chat_id}".encode()).digest()
    return int.from_bytes(digest[:16], "big") or 1, int.from_bytes(digest[16:24], "big") or 1


def span_plan(event: Any, content: str | None) -> SpanPlan | None:
    """The span of a message event (None for other events); `content` is the opened text, or
    None to leave content out."""
    if not isinstance(event, Chat.MessageEvent) or isinstance(event, Chat.StreamOpened):
        return None
    fields = vars(event)
    end_ns = int(event.timestamp.timestamp() * 1e9)
    took_ms = fields.get("generation_ms") or fields.get("duration_ms") or fields.get(
        "processing_ms") or 0.0  # fmt: skip
    attributes = {
        "gen_ai.conversation.id": event.originator_id,
        "chatledger.message.id": event.message_id,
        "chatledger.user.id": fields.get("user_id"),
        "chatledger.role": event.role,
        "chatledger.event.version": event.originator_version,
        "chatledger.event.hash": fields.get("hash"),
        "chatledger.token_count": (fields.get("tokens") or {}).get("count"),
    }
    reply = isinstance(event, REPLIES)
    if reply:
        attributes.update(reply_attributes(fields))
    if content is not None:
        key = "gen_ai.output.messages" if reply else "gen_ai.input.messages"
        attributes[key] = json.dumps([message_of(event.role, content, fields)], ensure_ascii=False)
    name = f"chat {fields.get('model') or 'unknown'}" if reply else f"{event.role} message"
    start_ns = end_ns - int(float(took_ms) * 1e6)
    return SpanPlan(name, reply, start_ns, end_ns,
                    {k: v for k, v in attributes.items() if v is not None},
                    fields.get("error_code"))  # fmt: skip


def reply_attributes(fields: dict[str, Any]) -> dict[str, Any]:
    usage = fields.get("usage") or {}
    found = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": fields.get("provider"),
        "gen_ai.request.model": fields.get("model"),
        "gen_ai.response.model": fields.get("response_model"),
        "gen_ai.response.id": fields.get("response_id"),
        "gen_ai.response.finish_reasons": fields.get("finish_reasons"),
        "gen_ai.usage.input_tokens": usage.get("input_tokens"),
        "gen_ai.usage.output_tokens": usage.get("output_tokens"),
        "chatledger.stream.first_chunk_ms": fields.get("first_chunk_ms"),
        "chatledger.stream.chunk_count": fields.get("chunk_count"),
        "error.type": fields.get("error_code"),
    }
    found.update({key: fields.get(name) for name, key in REQUEST.items()})
    return found


def message_of(role: str, content: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A message as the conventions shape it: typed parts (tool calls by id and name: their
    arguments stay sealed)."""
    parts: list[dict[str, Any]] = [{"type": "text", "content": content}] if content else []
    for call in fields.get("tool_calls") or []:
        parts.append({"type": "tool_call", "id": call.get("id"), "name": call.get("name")})
    message: dict[str, Any] = {"role": role, "parts": parts}
    if fields.get("tool_call_id"):
        message["parts"] = [{"type": "tool_call_response", "id": fields["tool_call_id"],
                             "response": content}]  # fmt: skip
    if fields.get("finish_reasons"):
        message["finish_reason"] = fields["finish_reasons"][0]
    return message
