"""A whole conversation in OpenAI chat format, as a chat backend sees it: a system prompt, a
developer message, a user message with a text part and two image parts (inline and by URL), an
assistant tool call, the tool's result and a final answer; and a refusal in another chat."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

# A real 1x1 PNG, and bytes that are not valid UTF-8 (inline data is binary, not text).
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
BINARY = bytes(range(256)) * 3
IMAGE_URL = "https://files.example.org/receipts/4711.png?sig=s3cr3t-token"
TOOL_ARGUMENTS = '{"order_id": "4711", "include": ["refunds"], "note": "naïve ✓"}'
TOOL_RESULT = '{"status": "refunded", "amount": 12.5}'
FINAL_ANSWER = "Your second charge of €12.50 was refunded on Monday. 🧾"

SYSTEM: dict[str, Any] = {
    "role": "system",
    "content": "You are the billing assistant of Example Corp.",
}
DEVELOPER: dict[str, Any] = {"role": "developer", "content": "Never reveal internal order notes."}
USER: dict[str, Any] = {
    "role": "user",
    "name": "ann",
    "content": [
        {"type": "text", "text": "Why was I charged twice? Receipt attached:"},
        {"type": "image_url", "image_url": {
            "url": "data:image/png;base64," + base64.b64encode(PNG).decode(), "detail": "high"}},
        {"type": "image_url", "image_url": {"url": IMAGE_URL}},
        {"type": "file", "file": {"file_data": base64.b64encode(BINARY).decode(),
                                  "filename": "statement.bin"}},
    ],
}  # fmt: skip
TOOL_CALL: dict[str, Any] = {
    "id": "call_4711",
    "type": "function",
    "function": {"name": "lookup_order", "arguments": TOOL_ARGUMENTS},
}
ASSISTANT_TOOL_CALL: dict[str, Any] = {
    "role": "assistant", "content": None, "tool_calls": [TOOL_CALL],
    "finish_reasons": ["tool_calls"], "model": "gpt-4o",
}  # fmt: skip
TOOL: dict[str, Any] = {"role": "tool", "tool_call_id": "call_4711", "content": TOOL_RESULT}
REFUSAL = "I can't help with that request."

CONVERSATION: list[dict[str, Any]] = [SYSTEM, DEVELOPER, USER, ASSISTANT_TOOL_CALL, TOOL]
ROLES = ["system", "developer", "user", "assistant", "tool", "assistant"]  # the final answer too
STREAM_FACTS: dict[str, Any] = {"finish_reasons": ["stop"], "response_id": "chatcmpl-9XyZ",
                "response_model": "gpt-4o-2024-08-06"}  # fmt: skip
REQUEST: dict[str, Any] = {"provider": "openai", "top_p": 0.9, "max_tokens": 512, "seed": 42}


def user_text() -> str:
    return "Why was I charged twice? Receipt attached:"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def as_fields(message: dict[str, Any]) -> dict[str, Any]:
    """A chat-format message as the keyword fields of persist_message (role apart)."""
    fields = {k: v for k, v in message.items() if k != "role" and v is not None}
    fields.setdefault("content", "")
    return fields
