"""Anthropic's messages format as ChatLedger records it. The system prompt is the first message;
a user turn's tool results are tool messages (answering the tool_use ids), its other blocks a
user message of parts; an assistant turn's text is its content and its tool_use blocks its tool
calls. Request hints (cache_control) and thinking blocks are not part of the record.

Anthropic counts the tokens read from and written to its prompt cache apart from `input_tokens`;
the record's input tokens are all three together (as OpenTelemetry's gen_ai.usage.input_tokens
counts them), and the cached ones are named too."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chatledger.infrastructure.integrations.call_facts import Reply, as_plain, usage_of

PART_TYPES = ("text", "image", "document")


def message_items(request: Mapping[str, Any]) -> list[Any]:
    items: list[Any] = []
    system = as_plain(request.get("system"))
    if system is not None:
        items.append({"role": "system", "content": content_of(system)})
    for message in as_plain(request.get("messages") or []):
        items.extend(turn_items(message))
    return items


def turn_items(message: Any) -> list[Any]:
    """One turn as ChatLedger messages: what is not a turn goes as it is, refused alone."""
    if not isinstance(message, Mapping) or not isinstance(message.get("content"), list):
        return [message]
    role, blocks = message.get("role"), message["content"]
    if role == "assistant":
        return [assistant_item(blocks)]
    items: list[Any] = []
    pending: list[Any] = []
    for block in blocks:
        if isinstance(block, Mapping) and block.get("type") == "tool_result":
            items += [{"role": role, "content": content_of(pending)}] if pending else []
            items.append(tool_item(block))
            pending = []
        else:
            pending.append(block)
    return items + ([{"role": role, "content": content_of(pending)}] if pending else [])


def content_of(content: Any) -> Any:
    """A text, or the blocks as parts (their request hints left out)."""
    if not isinstance(content, list):
        return content
    return [part(block) for block in content]


def part(block: Any) -> Any:
    if not isinstance(block, Mapping) or block.get("type") not in PART_TYPES:
        return block  # refused by name
    if block["type"] == "text":
        return {"type": "text", "text": block.get("text")}
    return {k: v for k, v in block.items() if k in ("type", "source", "title")}


def tool_item(block: Mapping[str, Any]) -> dict[str, Any]:
    item = {"role": "tool", "tool_call_id": block.get("tool_use_id"),
            "content": content_of(block.get("content") or "")}  # fmt: skip
    if block.get("is_error"):
        item["metadata"] = {"is_error": True}
    return item


def assistant_item(blocks: list[Any]) -> dict[str, Any]:
    text = "".join(b.get("text") or "" for b in blocks if isinstance(b, Mapping)
                   and b.get("type") == "text")  # fmt: skip
    calls = [tool_call(b) for b in blocks if isinstance(b, Mapping) and b.get("type") == "tool_use"]
    return {"role": "assistant", "content": text, **({"tool_calls": calls} if calls else {})}


def tool_call(block: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": block.get("id"), "name": block.get("name"),
            "arguments": json.dumps(block.get("input") or {}, ensure_ascii=False)}  # fmt: skip


def request_facts(request: Mapping[str, Any], provider: str) -> dict[str, Any]:
    facts = {"model": request.get("model"), "temperature": request.get("temperature"),
             "top_p": request.get("top_p"), "max_tokens": request.get("max_tokens"),
             "provider": provider}  # fmt: skip
    return {k: v for k, v in facts.items() if isinstance(v, str | int | float)}


def anthropic_usage(usage: Any) -> dict[str, Any] | None:
    if not isinstance(usage, Mapping):
        return None
    read, written = usage.get("cache_read_input_tokens"), usage.get("cache_creation_input_tokens")
    counted = [n for n in (usage.get("input_tokens"), read, written) if isinstance(n, int)]
    return usage_of(input_tokens=sum(counted) if counted else None,
                    output_tokens=usage.get("output_tokens"), cached_input_tokens=read)  # fmt: skip


def message_reply(message: Any) -> Reply:
    """A whole reply (Message)."""
    answer = as_plain(message)
    item = assistant_item(answer.get("content") or [])
    reason = answer.get("stop_reason")
    return Reply(content=item["content"], tool_calls=item.get("tool_calls", []),
                 finish_reasons=[reason] if reason else [], response_id=answer.get("id"),
                 response_model=answer.get("model"),
                 usage=anthropic_usage(answer.get("usage")))  # fmt: skip


@dataclass
class StreamedMessage:
    """A streamed reply put together from Anthropic's events as the caller reads them."""

    blocks: dict[int, dict[str, Any]] = field(default_factory=dict)
    stop_reason: str | None = None
    response_id: str | None = None
    response_model: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)

    def add(self, event: Any) -> str | None:
        plain = as_plain(event)
        kind = plain.get("type")
        if kind == "message_start":
            message = plain.get("message") or {}
            self.response_id, self.response_model = message.get("id"), message.get("model")
            self.usage.update(message.get("usage") or {})
        elif kind == "message_delta":
            self.stop_reason = (plain.get("delta") or {}).get("stop_reason") or self.stop_reason
            self.usage.update({k: v for k, v in (plain.get("usage") or {}).items() if v})
        elif kind == "content_block_start":
            self.blocks[plain.get("index", 0)] = dict(plain.get("content_block") or {})
            return ""
        elif kind == "content_block_delta":
            return self.add_delta(plain.get("index", 0), plain.get("delta") or {})
        return None

    def add_delta(self, index: int, delta: Mapping[str, Any]) -> str:
        block = self.blocks.setdefault(index, {"type": "text"})
        if delta.get("type") == "text_delta":
            block["text"] = block.get("text", "") + (delta.get("text") or "")
            return delta.get("text") or ""
        if delta.get("type") == "input_json_delta":
            block["partial_json"] = block.get("partial_json", "") + (
                delta.get("partial_json") or ""
            )
        return ""

    def reply(self) -> Reply:
        blocks = [self.finished(self.blocks[i]) for i in sorted(self.blocks)]
        item = assistant_item(blocks)
        return Reply(content=item["content"], tool_calls=item.get("tool_calls", []),
                     finish_reasons=[self.stop_reason] if self.stop_reason else [],
                     response_id=self.response_id, response_model=self.response_model,
                     usage=anthropic_usage(self.usage))  # fmt: skip

    @staticmethod
    def finished(block: dict[str, Any]) -> dict[str, Any]:
        if block.get("type") != "tool_use" or "partial_json" not in block:
            return block
        try:
            arguments = json.loads(block["partial_json"] or "{}")
        except ValueError:  # cut mid-way: the arguments as far as they came
            arguments = {"partial_json": block["partial_json"]}
        return {**block, "input": arguments}
