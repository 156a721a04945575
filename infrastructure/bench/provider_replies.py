"""What the local model server (provider_server.py) answers, in each provider's wire format."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

CHUNK_CHARS = 8
TOOL_ARGUMENTS = '{"city": "Paris", "unit": "celsius"}'


@dataclass
class PlannedReply:
    model: str
    text: str
    status: int = 200
    tool_call: bool = False
    cut: bool = False
    reply_id: str = ""

    @property
    def input_tokens(self) -> int:
        return 11

    @property
    def output_tokens(self) -> int:
        return max(1, len(self.text) // 4)

    def error_body(self, anthropic: bool) -> dict[str, Any]:
        kind = "rate_limit_error" if self.status == 429 else "api_error"
        if anthropic:
            return {"type": "error", "error": {"type": kind, "message": "try again later"}}
        return {"error": {"message": "try again later", "type": kind, "code": None}}


def planned_reply(request: dict[str, Any], anthropic: bool) -> PlannedReply:
    model = str(request.get("model") or "model")
    said = last_user_text(request.get("messages") or [])
    digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:20]
    plan = PlannedReply(model=model, text=f"You said: {said}" if said else "Hello!",
                        reply_id=("msg_" if anthropic else "chatcmpl-") + digest)  # fmt: skip
    plan.status = 429 if model.endswith("-429") else 500 if model.endswith("-500") else 200
    plan.tool_call = model.endswith("-tools") and not said.startswith("[tool result]")
    plan.cut = model.endswith("-cut")
    return plan


def last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    texts = []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "text":
            texts.append(str(block.get("text")))
        elif isinstance(block, dict) and block.get("type") == "tool_result":
            texts.append("[tool result]")
    return " ".join(texts)


def pieces(text: str) -> list[str]:
    return [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)]


def openai_usage(plan: PlannedReply) -> dict[str, Any]:
    return {"prompt_tokens": plan.input_tokens, "completion_tokens": plan.output_tokens,
            "total_tokens": plan.input_tokens + plan.output_tokens,
            "prompt_tokens_details": {"cached_tokens": 3},
            "completion_tokens_details": {"reasoning_tokens": 0}}  # fmt: skip


def openai_tool_call(plan: PlannedReply) -> dict[str, Any]:
    return {"id": "call_" + plan.reply_id[-12:], "type": "function",
            "function": {"name": "get_weather", "arguments": TOOL_ARGUMENTS}}  # fmt: skip


def openai_completion(plan: PlannedReply, request: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": plan.text, "refusal": None}
    if plan.tool_call:
        message.update(content=None, tool_calls=[openai_tool_call(plan)])
    reason = "tool_calls" if plan.tool_call else "stop"
    return {"id": plan.reply_id, "object": "chat.completion", "created": 1764806400,
            "model": plan.model + "-2026-01-01", "system_fingerprint": "fp_local",
            "choices": [{"index": 0, "message": message, "finish_reason": reason,
                         "logprobs": None}],
            "usage": openai_usage(plan)}  # fmt: skip


def openai_chunks(plan: PlannedReply, request: dict[str, Any]) -> list[str]:
    head = {"id": plan.reply_id, "object": "chat.completion.chunk", "created": 1764806400,
            "model": plan.model + "-2026-01-01", "system_fingerprint": "fp_local"}  # fmt: skip

    def chunk(delta: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    if plan.tool_call:
        call = openai_tool_call(plan)
        chunks.append(chunk({"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                             "function": {"name": "get_weather",
                                                          "arguments": ""}}]}))  # fmt: skip
        for piece in pieces(TOOL_ARGUMENTS):
            chunks.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
        chunks.append(chunk({}, "tool_calls"))
    else:
        chunks += [chunk({"content": piece}) for piece in pieces(plan.text)]
        chunks.append(chunk({}, "stop"))
    if (request.get("stream_options") or {}).get("include_usage"):
        chunks.append({**head, "choices": [], "usage": openai_usage(plan)})
    return [f"data: {json.dumps(c)}\n\n" for c in chunks] + ["data: [DONE]\n\n"]


def anthropic_usage(plan: PlannedReply) -> dict[str, Any]:
    return {"input_tokens": plan.input_tokens, "output_tokens": plan.output_tokens,
            "cache_read_input_tokens": 5, "cache_creation_input_tokens": 0}  # fmt: skip


def anthropic_blocks(plan: PlannedReply) -> list[dict[str, Any]]:
    if plan.tool_call:
        return [{"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_" + plan.reply_id[-12:], "name": "get_weather",
                 "input": json.loads(TOOL_ARGUMENTS)}]  # fmt: skip
    return [{"type": "text", "text": plan.text}]


def anthropic_message(plan: PlannedReply) -> dict[str, Any]:
    return {"id": plan.reply_id, "type": "message", "role": "assistant", "model": plan.model,
            "content": anthropic_blocks(plan),
            "stop_reason": "tool_use" if plan.tool_call else "end_turn", "stop_sequence": None,
            "usage": anthropic_usage(plan)}  # fmt: skip


def anthropic_events(plan: PlannedReply) -> list[str]:
    start = {**anthropic_message(plan), "content": [], "stop_reason": None,
             "usage": {**anthropic_usage(plan), "output_tokens": 1}}  # fmt: skip
    events: list[tuple[str, dict[str, Any]]] = [("message_start", {"message": start})]
    for index, block in enumerate(anthropic_blocks(plan)):
        if block["type"] == "text":
            events.append(
                (
                    "content_block_start",
                    {"index": index, "content_block": {"type": "text", "text": ""}},
                )
            )
            events += [("content_block_delta",
                        {"index": index, "delta": {"type": "text_delta", "text": piece}})
                       for piece in pieces(block["text"])]  # fmt: skip
        else:
            events.append(("content_block_start", {"index": index, "content_block":
                           {**block, "input": {}}}))  # fmt: skip
            events += [("content_block_delta", {"index": index, "delta":
                        {"type": "input_json_delta", "partial_json": piece}})
                       for piece in pieces(TOOL_ARGUMENTS)]  # fmt: skip
        events.append(("content_block_stop", {"index": index}))
    reason = "tool_use" if plan.tool_call else "end_turn"
    events.append(("message_delta", {"delta": {"stop_reason": reason, "stop_sequence": None},
                                     "usage": {"output_tokens": plan.output_tokens}}))  # fmt: skip
    events.append(("message_stop", {}))
    return [f"event: {name}\ndata: {json.dumps({'type': name, **body})}\n\n"
            for name, body in events]  # fmt: skip
