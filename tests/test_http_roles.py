"""The whole conversation over HTTP, on every backend: every role, parts, tool calls and
generation facts go in through the real server and come back from replay and the audit export;
hostile bodies answer 422 naming the field, never 500, and record nothing."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest

from chatledger.infrastructure.tokenizer.tiktoken_counter import TiktokenCounter
from tests.conversation_samples import (
    CONVERSATION,
    FINAL_ANSWER,
    IMAGE_URL,
    PNG,
    REFUSAL,
    REQUEST,
    ROLES,
    STREAM_FACTS,
    TOOL_ARGUMENTS,
    as_fields,
    sha256,
)
from tests.http_server import Api


def new_chat(client: httpx.Client) -> str:
    chat_id = f"billing-{uuid.uuid4().hex[:8]}"
    assert client.post("/v1/chats", json={"chat_id": chat_id, "model": "gpt-4o"}).status_code == 201
    return chat_id


def post(client: httpx.Client, chat_id: str, message: dict[str, Any], message_id: str) -> Any:
    return client.post(f"/v1/chats/{chat_id}/messages/{message['role']}",
                       json={**as_fields(message), "message_id": message_id})  # fmt: skip


def record_over_http(client: httpx.Client) -> tuple[str, str]:
    chat_id = new_chat(client)
    for number, message in enumerate(CONVERSATION):
        response = post(client, chat_id, message, f"m{number}")
        assert response.status_code == 201, response.text
    opened = client.post(f"/v1/chats/{chat_id}/streams",
                         json={"message_id": "m5", "model": "gpt-4o", **REQUEST})  # fmt: skip
    assert opened.status_code == 201, opened.text
    completed = client.post(f"/v1/chats/{chat_id}/streams/m5/complete", json={
        "content": FINAL_ANSWER, "chunk_count": 2, "first_chunk_ms": 180.0, "duration_ms": 950.0,
        "usage": {"input_tokens": 301, "output_tokens": 19}, **STREAM_FACTS})  # fmt: skip
    assert completed.status_code == 201, completed.text
    other = new_chat(client)
    refused = client.post(f"/v1/chats/{other}/messages/assistant", json={
        "refusal": REFUSAL, "finish_reasons": ["content_filter"], "message_id": "r1"})  # fmt: skip
    assert refused.status_code == 201, refused.text
    return chat_id, other


def test_a_whole_conversation_goes_in_over_http_and_comes_back(api: Api, ann: httpx.Client) -> None:
    chat_id, other = record_over_http(ann)
    replay = ann.get(f"/v1/chats/{chat_id}/replay")
    assert replay.status_code == 200, replay.text
    messages = replay.json()["chat"]["messages"]
    assert [m["role"] for m in messages] == ROLES
    parts = json.loads(messages[2]["parts"])
    assert base64.b64decode(parts[1]["data"]) == PNG and parts[1]["sha256"] == sha256(PNG)
    assert parts[2]["url"] == IMAGE_URL
    assert json.loads(messages[3]["tool_calls"])[0]["arguments"] == TOOL_ARGUMENTS
    assert messages[4]["tool_call_id"] == "call_4711"
    assert json.loads(messages[5]["finish_reasons"]) == ["stop"]
    assert messages[5]["response_model"] == "gpt-4o-2024-08-06"
    refusal = ann.get(f"/v1/chats/{other}/replay").json()["chat"]["messages"][0]
    assert refusal["refusal"] == REFUSAL
    assert ann.get("/v1/verify", params={"chat_id": chat_id}).json()["intact"] is True

    exported = ann.get("/v1/audit", params={"chat_id": chat_id, "with_content": "true"})
    records = [json.loads(line) for line in exported.text.splitlines()]
    roles = [r["fields"].get("role") for r in records if r["event_type"] != "StreamOpened"]
    assert roles[1:] == ROLES
    completed = next(r for r in records if r["event_type"] == "StreamCompleted")["fields"]
    assert completed["gen_ai.response.finish_reasons"] == ["stop"]
    api.settled()
    stats = ann.get("/v1/stats").json()["stats"]
    assert stats["messages_by_role"] == {"assistant": 3, "developer": 1, "system": 1, "tool": 1,
                                         "user": 1}  # fmt: skip


HOSTILE: dict[str, tuple[str, dict[str, Any], str]] = {
    "unknown role": ("messages", {"messages": [{"role": "wizard", "content": "x"}]}, "role"),
    "tool message without tool_call_id": ("messages/tool", {"content": "42"}, "tool_call_id"),
    "malformed tool-call arguments": ("messages/assistant", {"tool_calls": [
        {"id": "c1", "function": {"name": "f", "arguments": "{nope"}}]}, "tool_calls.0.arguments"),
    "invalid base64": ("messages/user", {"content": [{"type": "image", "data": "@@"}]},
                       "content.parts.0.data"),
    "oversized inline part": ("messages/user", {"content": [
        {"type": "image", "data": base64.b64encode(b"\0" * (2 * 1024 * 1024 + 3)).decode()}]},
        "content.parts.0.data"),
    "part of unknown type": ("messages/user", {"content": [{"type": "hologram"}]},
                             "content.parts.0.type"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_bodies_are_422_naming_the_field_and_record_nothing(
    api: Api, case: str, token_counter: TiktokenCounter
) -> None:
    route, body, field = HOSTILE[case]
    with api.client() as client:
        chat_id = new_chat(client)
        response = client.post(f"/v1/chats/{chat_id}/{route}", json=body)
        if response.status_code == 413:  # the body bound came first: refused all the same
            return
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_ERROR"
        named = json.dumps(error["details"])
        assert field.split(".")[-1] in named, named
        replayed = client.get(f"/v1/chats/{chat_id}/replay").json()["chat"]
        assert replayed["messages"] == []
