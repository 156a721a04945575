"""The whole conversation as it happened, through the Python API, on every backend: every role,
content parts byte for byte, tool calls, finish reasons and the other generation facts, in the
events, replay, the messages table, the statistics and the audit export; sealed where written
by people and models, erased with the user; and unknown chats answer CHAT_NOT_FOUND."""

from __future__ import annotations

import base64
import json
from typing import Any

from typer.testing import CliRunner

from chatledger import ErrorCode, Ledger
from chatledger.domain.chat import Chat
from chatledger.infrastructure.cli.main import app
from tests.conversation_samples import (
    BINARY,
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
    user_text,
)
from tests.read_model_oracle import actual_dumps, expected_dumps

OWNER = "ann-1"


def record_everything(ledger: Ledger) -> None:
    assert ledger.start_chat("billing-1", OWNER, model="gpt-4o").success
    for number, message in enumerate(CONVERSATION):
        result = ledger.pipeline.persist_message(
            "billing-1", OWNER, message["role"], message_id=f"m{number}", **as_fields(message)
        )
        assert result.success, result.error
    opened = ledger.open_stream("billing-1", OWNER, message_id="m5", model="gpt-4o", **REQUEST)
    assert opened.stream is not None
    for chunk in (FINAL_ANSWER[:10], FINAL_ANSWER[10:]):
        opened.stream.add_chunk(chunk)
    done = ledger.complete_stream(
        opened.stream, usage={"input_tokens": 301, "output_tokens": 19,
                              "cached_input_tokens": 256}, **STREAM_FACTS,
    )  # fmt: skip
    assert done.success, done.error
    assert ledger.start_chat("other-1", OWNER, model="gpt-4o").success
    refused = ledger.persist_assistant_message(
        "other-1", OWNER, refusal=REFUSAL, finish_reasons=["content_filter"], message_id="r1"
    )
    assert refused.success and not refused.warnings, refused


def by_id(messages: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["message_id"]: m for m in messages}


def test_every_role_part_and_tool_call_comes_back_as_it_was_sent(ledger: Ledger) -> None:
    record_everything(ledger)
    events = [
        e for e in ledger.pipeline.events.get("billing-1") if isinstance(e, Chat.MessageEvent)
    ]
    assert [e.role for e in events if not isinstance(e, Chat.StreamOpened)] == ROLES

    replayed = ledger.replay_chat("billing-1", OWNER).chat
    assert replayed is not None
    messages = by_id(replayed.messages)
    assert [m["role"] for m in replayed.messages] == ROLES
    parts = json.loads(messages["m2"]["parts"])
    assert [p["type"] for p in parts] == ["text", "image", "image", "file"]
    assert parts[0]["text"] == user_text()
    assert base64.b64decode(parts[1]["data"]) == PNG
    assert (parts[1]["media_type"], parts[1]["size_bytes"], parts[1]["sha256"]) == (
        "image/png", len(PNG), sha256(PNG))  # fmt: skip
    assert (parts[2]["url"], parts[2]["media_type"]) == (IMAGE_URL, "application/octet-stream")
    assert base64.b64decode(parts[3]["data"]) == BINARY and parts[3]["filename"] == "statement.bin"
    assert messages["m2"]["name"] == "ann"
    calls = json.loads(messages["m3"]["tool_calls"])
    assert calls == [{"id": "call_4711", "type": "function", "name": "lookup_order",
                      "arguments": TOOL_ARGUMENTS}]  # fmt: skip
    assert json.loads(messages["m3"]["finish_reasons"]) == ["tool_calls"]
    assert messages["m4"]["tool_call_id"] == "call_4711"
    final = messages["m5"]
    assert (final["content"], json.loads(final["finish_reasons"])) == (FINAL_ANSWER, ["stop"])
    assert (final["response_id"], final["response_model"], final["provider"]) == (
        "chatcmpl-9XyZ", "gpt-4o-2024-08-06", "openai")  # fmt: skip
    assert (final["top_p"], final["max_tokens"], final["seed"]) == (0.9, 512, 42)
    assert final["cached_input_tokens"] == 256
    other = ledger.replay_chat("other-1", OWNER).chat
    assert other is not None and other.messages[0]["refusal"] == REFUSAL

    # Token counts are tiktoken's, over the text (text parts one after the other).
    counter = ledger.pipeline.token_counter
    for event in events:
        tokens = getattr(event, "tokens", None)
        if tokens:
            text = ledger.pipeline.content_of(event) or ""
            encoding = counter.encoding(tokens["encoding"])  # type: ignore[attr-defined]
            assert tokens["count"] == len(encoding.encode_ordinary(text))
    assert ledger.verify().intact


def test_the_read_models_count_every_role_and_list_parts_without_their_data(
    ledger: Ledger,
) -> None:
    record_everything(ledger)
    stats = ledger.stats(OWNER).stats
    assert stats is not None
    assert stats.messages_by_role == {"assistant": 3, "developer": 1, "system": 1, "tool": 1,
                                      "user": 1}  # fmt: skip
    assert stats.finish_reasons == {"content_filter": 1, "stop": 1, "tool_calls": 1}
    assert stats.tool_calls_by_model == {"gpt-4o": 1}
    ledger.catch_up()
    table = by_id(ledger.read_side.messages.messages("billing-1"))
    listed = json.loads(table["m2"]["parts"])
    assert all("data" not in part and "text" not in part for part in listed)
    assert listed[1]["sha256"] == sha256(PNG) and listed[2]["url"] == IMAGE_URL
    assert table["m2"]["content"] == user_text()
    assert actual_dumps(ledger.read_side) == expected_dumps(ledger.pipeline)
    for name in ledger.read_side.runners:
        ledger.rebuild(name)
    assert actual_dumps(ledger.read_side) == expected_dumps(ledger.pipeline)


def test_the_audit_export_names_generation_facts_as_opentelemetry_does(ledger: Ledger) -> None:
    record_everything(ledger)
    sealed = ledger.audit_trail(OWNER, chat_id="billing-1", limit=1000).records
    opened = ledger.audit_trail(OWNER, chat_id="billing-1", limit=1000, with_content=True).records
    completed = next(r for r in opened if r["event_type"] == "StreamCompleted")["fields"]
    assert completed["gen_ai.response.finish_reasons"] == ["stop"]
    assert completed["gen_ai.response.id"] == "chatcmpl-9XyZ"
    assert completed["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert completed["gen_ai.usage.input_tokens"] == 301
    assert completed["gen_ai.conversation.id"] == "billing-1"
    assert "gen_ai.usage.tokens" not in completed
    opening = next(r for r in opened if r["event_type"] == "StreamOpened")["fields"]
    assert (opening["gen_ai.provider.name"], opening["gen_ai.request.seed"]) == ("openai", 42)
    user = next(r for r in opened if r["event_type"] == "UserMessageRecorded")["fields"]
    assert base64.b64decode(user["parts"][1]["data"]) == PNG and user["role"] == "user"
    tool = next(r for r in opened if r["event_type"] == "ToolMessageRecorded")["fields"]
    assert tool["gen_ai.tool.call.id"] == "call_4711"
    # Without content: what the parts and calls are, never what they say.
    text = json.dumps(sealed)
    for secret in (IMAGE_URL, "statement.bin", "order_id", "refunded", user_text()):
        assert secret not in text
    call = next(r for r in sealed if r["message_id"] == "m3")["fields"]["tool_calls"][0]
    assert call == {"id": "call_4711", "type": "function", "name": "lookup_order"}


def test_what_people_and_models_wrote_is_sealed_and_erased_with_the_user(ledger: Ledger) -> None:
    record_everything(ledger)
    stored = str([vars(e) for e in ledger.pipeline.events.get("billing-1")])
    stored += str([vars(e) for e in ledger.pipeline.events.get("other-1")])
    for secret in (IMAGE_URL, "statement.bin", "order_id", REFUSAL, user_text()):
        assert secret not in stored
    assert base64.b64encode(PNG).decode() not in stored
    assert ledger.erase_user(OWNER, reason="GDPR Art. 17", requested_by="dpo-1").success
    table = by_id(ledger.read_side.messages.messages("billing-1"))
    assert table["m2"]["parts"] == '"[erased]"' and table["m3"]["tool_calls"] == '"[erased]"'
    assert by_id(ledger.read_side.messages.messages("other-1"))["r1"]["refusal"] == "[erased]"
    replayed = ledger.replay_chat("billing-1", OWNER).chat
    assert replayed is not None
    parts = json.loads(by_id(replayed.messages)["m2"]["parts"])
    assert {parts[1]["data"], parts[2]["url"], parts[3]["filename"]} == {"[erased]"}
    assert parts[1]["sha256"] == sha256(PNG)  # what it was stays provable, not what it showed
    assert actual_dumps(ledger.read_side) == expected_dumps(ledger.pipeline)
    assert ledger.verify().intact


def test_verify_and_replay_of_an_unknown_chat_answer_chat_not_found(
    ledger: Ledger, database_url: str
) -> None:
    assert ledger.start_chat("known", OWNER).success
    verified = ledger.verify("no-such-chat")
    assert verified.error is not None and verified.error.code == ErrorCode.CHAT_NOT_FOUND
    replayed = ledger.replay_chat("no-such-chat", OWNER)
    assert replayed.error is not None and replayed.error.code == ErrorCode.CHAT_NOT_FOUND
    runner = CliRunner()
    for command in (["verify", "--chat", "no-such-chat"], ["replay", "no-such-chat"]):
        result = runner.invoke(app, [*command, "--json", "--database-url", database_url])
        assert result.exit_code == 1, result.output
        assert "CHAT_NOT_FOUND" in result.output
