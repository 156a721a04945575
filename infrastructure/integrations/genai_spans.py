"""OpenTelemetry GenAI spans as ChatLedger conversations: the chat (gen_ai.conversation.id),
the user (a configured attribute), the prompt and the reply, with the request parameters,
response facts and usage. Messages are read where instrumentations put them, first found wins:

- the GenAI conventions' attributes gen_ai.system_instructions, gen_ai.input.messages and
  gen_ai.output.messages (JSON: messages of typed parts),
- the conventions' earlier span events gen_ai.{system,user,assistant,tool}.message and
  gen_ai.choice,
- OpenLLMetry's gen_ai.prompt.N.* and gen_ai.completion.N.* attributes.

A span is either mapped whole or not at all (with the reason)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from chatledger.infrastructure.integrations.otlp_traces import PlainSpan

MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
REQUEST_ATTRIBUTES = {"temperature": "gen_ai.request.temperature",
                      "top_p": "gen_ai.request.top_p", "max_tokens": "gen_ai.request.max_tokens",
                      "seed": "gen_ai.request.seed"}  # fmt: skip


@dataclass
class MappedSpan:
    chat_id: str
    user_id: str | None
    model: str | None
    messages: list[Any]  # the prompt, then the reply (an assistant message with its facts)


def mapped_span(span: PlainSpan, user_attribute: str) -> MappedSpan | str:
    """The span's conversation, or why it has none."""
    found = span.attributes
    if not any(key.startswith("gen_ai.") for key in found):
        return "not a GenAI span"
    chat_id = found.get("gen_ai.conversation.id")
    if not isinstance(chat_id, str) or not chat_id:
        return "no gen_ai.conversation.id"
    prompt, replies = convention_messages(found) or event_messages(span) or openllmetry(found)
    if not prompt and not replies:
        return "no messages"
    user = found.get(user_attribute)
    model = found.get("gen_ai.request.model")
    messages = [*prompt, *([reply_with_facts(replies[0], span)] if replies else [])]
    return MappedSpan(chat_id, user if isinstance(user, str) else None,
                      model if isinstance(model, str) else None, messages)  # fmt: skip


def convention_messages(found: dict[str, Any]) -> tuple[list[Any], list[Any]] | None:
    inputs = json_value(found.get("gen_ai.input.messages"))
    outputs = json_value(found.get("gen_ai.output.messages"))
    if inputs is None and outputs is None:
        return None
    prompt: list[Any] = []
    system = json_value(found.get("gen_ai.system_instructions"))
    if system:
        prompt.append({"role": "system", "content": text_of_parts(system)})
    for message in inputs if isinstance(inputs, list) else []:
        prompt.extend(items_of_message(message))
    replies = [m for out in (outputs if isinstance(outputs, list) else [])
               for m in items_of_message(out)]  # fmt: skip
    return prompt, replies


def items_of_message(message: Any) -> list[Any]:
    """A message of parts as ChatLedger messages: tool responses are tool messages."""
    if not isinstance(message, dict) or not isinstance(message.get("parts"), list):
        return [message]  # refused, by name
    parts, items = message["parts"], []
    for part in parts:
        if isinstance(part, dict) and part.get("type") == "tool_call_response":
            items.append({"role": "tool", "tool_call_id": part.get("id"),
                          "content": as_text(part.get("response"))})  # fmt: skip
    calls = [{"id": p.get("id"), "name": p.get("name"), "arguments": as_text(p.get("arguments"))}
             for p in parts if isinstance(p, dict) and p.get("type") == "tool_call"]  # fmt: skip
    kept = [p for p in parts if not (isinstance(p, dict) and str(p.get("type")).startswith("tool"))]
    if kept or calls or not items:
        item: dict[str, Any] = {"role": message.get("role"), "content": text_of_parts(kept)}
        if calls:
            item["tool_calls"] = calls
        if isinstance(message.get("finish_reason"), str):
            item["finish_reasons"] = [message["finish_reason"]]
        items.append(item)
    return items


def text_of_parts(parts: Any) -> str:
    if isinstance(parts, str):
        return parts
    return "".join(str(p.get("content", "")) for p in parts if isinstance(p, dict)
                   and p.get("type") == "text")  # fmt: skip


def event_messages(span: PlainSpan) -> tuple[list[Any], list[Any]] | None:
    prompt, replies = [], []
    for event in span.events:
        body = {**event.attributes, **(json_value(event.attributes.get("gen_ai.event.content"))
                                       or {})}  # fmt: skip
        if event.name in MESSAGE_EVENTS:
            prompt.append(event_item(MESSAGE_EVENTS[event.name], body))
        elif event.name == "gen_ai.choice":
            message = json_value(body.get("message")) or body
            reply = event_item("assistant", message if isinstance(message, dict) else body)
            if isinstance(body.get("finish_reason"), str):
                reply["finish_reasons"] = [body["finish_reason"]]
            replies.append(reply)
    return (prompt, replies) if prompt or replies else None


def event_item(role: str, body: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {"role": role, "content": as_text(body.get("content") or "")}
    calls = json_value(body.get("tool_calls"))
    if role == "assistant" and isinstance(calls, list) and calls:
        item["tool_calls"] = calls
    if role == "tool":
        item["tool_call_id"] = body.get("id") or body.get("tool_call_id")
    return item


def openllmetry(found: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    return numbered(found, "gen_ai.prompt"), numbered(found, "gen_ai.completion")


def numbered(found: dict[str, Any], prefix: str) -> list[Any]:
    indexes = sorted({int(m.group(1)) for key in found
                      if (m := re.match(rf"^{re.escape(prefix)}\.(\d+)\.", key))})  # fmt: skip
    items = []
    for index in indexes[:1000]:
        at = f"{prefix}.{index}"
        item: dict[str, Any] = {"role": found.get(f"{at}.role"),
                                "content": as_text(found.get(f"{at}.content") or "")}  # fmt: skip
        calls = [{"id": found.get(f"{at}.tool_calls.{n}.id"),
                  "name": found.get(f"{at}.tool_calls.{n}.name"),
                  "arguments": as_text(found.get(f"{at}.tool_calls.{n}.arguments") or "{}")}
                 for n in range(128) if f"{at}.tool_calls.{n}.name" in found]  # fmt: skip
        if calls:
            item["tool_calls"] = calls
        if isinstance(found.get(f"{at}.finish_reason"), str):
            item["finish_reasons"] = [found[f"{at}.finish_reason"]]
        if found.get(f"{at}.tool_call_id") is not None:
            item["tool_call_id"] = found[f"{at}.tool_call_id"]
        items.append(item)
    return items


def reply_with_facts(reply: Any, span: PlainSpan) -> Any:
    """The reply as an assistant message with what the span says of the call."""
    if not isinstance(reply, dict):
        return reply
    found = span.attributes
    facts: dict[str, Any] = {name: found[key] for name, key in REQUEST_ATTRIBUTES.items()
                             if key in found}  # fmt: skip
    named = (("model", "gen_ai.request.model"), ("response_model", "gen_ai.response.model"),
             ("response_id", "gen_ai.response.id"))  # fmt: skip
    for name, key in named:
        if isinstance(found.get(key), str):
            facts[name] = found[key]
    provider = found.get("gen_ai.provider.name", found.get("gen_ai.system"))
    if isinstance(provider, str):
        facts["provider"] = provider.lower()
    reasons = found.get("gen_ai.response.finish_reasons")
    if isinstance(reasons, list) and "finish_reasons" not in reply:
        facts["finish_reasons"] = [str(r) for r in reasons]
    usage = {"input_tokens": found.get("gen_ai.usage.input_tokens"),
             "output_tokens": found.get("gen_ai.usage.output_tokens"),
             "cached_input_tokens": found.get("gen_ai.usage.cache_read.input_tokens")}  # fmt: skip
    if any(v is not None for v in usage.values()):
        facts["usage"] = {k: v for k, v in usage.items() if v is not None}
    if span.duration_ms is not None:
        facts["generation_ms"] = span.duration_ms
    if isinstance(found.get("error.type"), str):
        facts["error_code"] = (
            "PROVIDER_" + re.sub(r"[^A-Z0-9]", "_", found["error.type"].upper())[:55]
        )
    return {**reply, "role": "assistant", **facts}


def json_value(value: Any) -> Any:
    """An attribute that holds JSON text, decoded; other values as they are; None if absent
    or not JSON."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return None


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
