"""The Anthropic SDK drop-in, driven through the real `anthropic` package over real HTTP against
a local server that speaks Anthropic's wire format (JSON and server-sent events)."""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import anthropic
import pytest

from chatledger import AsyncLedger, Ledger, record_anthropic, recording_chat
from chatledger.infrastructure.tokenizer.tiktoken_counter import TiktokenCounter
from tests.conftest import ModelServer

SYSTEM = "Answer briefly. 🌍"
ASK = {"role": "user", "content": "What is the weather in Paris? 🙂"}


def sdk_client(base: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="sk-ant-local", base_url=base, max_retries=0)


def recorded(ledger: Ledger) -> list[Any]:
    replay = ledger.replay_chat("chat-1", "alice")
    assert replay.success and replay.chat is not None, replay.error
    return replay.chat.messages


def test_a_conversation_with_tool_use_and_a_streamed_answer_is_recorded_once(
    ledger: Ledger, model_server: ModelServer
) -> None:
    client = record_anthropic(sdk_client(model_server[0]), ledger)
    messages: list[Any] = [ASK]
    with recording_chat("chat-1", "alice"):
        first = client.messages.create(model="claude-tools", system=SYSTEM, max_tokens=200,
                                       messages=messages)  # fmt: skip
        assert isinstance(first, anthropic.types.Message)  # the SDK's own object
        (use,) = [block for block in first.content if block.type == "tool_use"]
        result = {"type": "tool_result", "tool_use_id": use.id, "content": "18 °C, sunny"}
        said = {"role": "user", "content": [result, {"type": "text", "text": "So?"}]}
        messages += [{"role": "assistant", "content": first.content}, said]
        with client.messages.stream(model="claude", system=SYSTEM, max_tokens=200,
                                    messages=messages) as stream:  # fmt: skip
            answer = "".join(stream.text_stream)
            final = stream.get_final_message()
        messages += [{"role": "assistant", "content": final.content},
                     {"role": "user", "content": "Thanks"}]  # fmt: skip
        raw_stream = client.messages.create(model="claude-tools", system=SYSTEM, max_tokens=200,
                                          messages=messages, stream=True)  # fmt: skip
        events = list(raw_stream)

    rows = recorded(ledger)
    assert [(r["role"], r["status"]) for r in rows] == [
        ("system", "recorded"), ("user", "recorded"), ("assistant", "recorded"),
        ("tool", "recorded"), ("user", "recorded"), ("assistant", "completed"),
        ("user", "recorded"), ("assistant", "completed"),
    ]  # fmt: skip
    assert [rows[0]["content"], rows[1]["content"]] == [SYSTEM, ASK["content"]]
    tool_use = rows[2]
    (call,) = json.loads(tool_use["tool_calls"])
    assert (call["id"], call["name"], json.loads(call["arguments"])) == (
        use.id, "get_weather", {"city": "Paris", "unit": "celsius"})  # fmt: skip
    assert tool_use["finish_reasons"] == '["tool_use"]' and tool_use["max_tokens"] == 200
    assert tool_use["content"] == "Let me check." and tool_use["provider"] == "anthropic"
    assert (rows[3]["tool_call_id"], rows[3]["content"]) == (use.id, "18 °C, sunny")
    streamed = rows[5]
    assert streamed["content"] == answer and final.stop_reason == "end_turn"
    assert streamed["finish_reasons"] == '["end_turn"]' and streamed["first_chunk_ms"] is not None
    # Anthropic counts cache reads apart; the record counts every input token.
    assert (streamed["provider_input_tokens"], streamed["cached_input_tokens"]) == (16, 5)
    deltas = [e.delta for e in events if e.type == "content_block_delta"]
    streamed_call = rows[7]  # a streamed answer with a tool call, its arguments in pieces
    assert streamed_call["content"] == "".join(d.text for d in deltas if d.type == "text_delta")
    (piecewise,) = json.loads(streamed_call["tool_calls"])
    assert json.loads(piecewise["arguments"]) == {"city": "Paris", "unit": "celsius"}
    assert streamed_call["finish_reasons"] == '["tool_use"]'
    assert sum(d.type == "input_json_delta" for d in deltas) > 1
    assert ledger.verify().intact


@pytest.mark.parametrize(("model", "kind", "code"), [
    ("claude-429", anthropic.RateLimitError, "PROVIDER_RATE_LIMITED"),
    ("claude-500", anthropic.InternalServerError, "PROVIDER_SERVER_ERROR"),
])  # fmt: skip
def test_a_provider_error_reaches_the_caller_and_is_recorded_with_its_code(
    ledger: Ledger,
    model_server: ModelServer,
    model: str,
    kind: type,
    code: str,
) -> None:
    client = record_anthropic(
        sdk_client(model_server[0]), ledger, chat_id="chat-1", user_id="alice"
    )
    with pytest.raises(kind):
        client.messages.create(model=model, max_tokens=10, messages=[ASK])

    def stream_it() -> None:
        with client.messages.stream(model=model, max_tokens=10, messages=[ASK]) as stream:
            stream.get_final_message()

    with pytest.raises(kind):
        stream_it()
    rows = recorded(ledger)
    assert [(r["status"], r["error_code"]) for r in rows[1:]] == [
        ("recorded", code), ("failed", code)]  # fmt: skip


def test_a_cut_stream_and_an_abandoned_one_are_recorded_as_they_ended(
    ledger: Ledger, model_server: ModelServer
) -> None:
    bare = sdk_client(model_server[0])
    client = record_anthropic(bare, ledger, chat_id="chat-1", user_id="alice")

    def read_cut(sdk: Any) -> None:
        with sdk.messages.stream(model="claude-cut", max_tokens=10, messages=[ASK]) as stream:
            stream.until_done()

    with pytest.raises(Exception) as unrecorded:  # whatever the SDK itself raises
        read_cut(bare)
    with pytest.raises(type(unrecorded.value)):  # the caller gets the same
        read_cut(client)
    stream = client.messages.create(model="claude", max_tokens=10, messages=[ASK], stream=True)
    for _ in stream:
        break
    del stream
    gc.collect()
    rows = recorded(ledger)
    assert [(r["status"], r["error_code"]) for r in rows[1:]] == [
        ("failed", "PROVIDER_STREAM_CUT"), ("abandoned", "STREAM_ABANDONED")]  # fmt: skip


def test_the_async_client_records_messages_stream(
    database_url: str,
    token_counter: TiktokenCounter,
    model_server: ModelServer,
) -> None:
    async def main() -> list[Any]:
        async with await AsyncLedger.open(database_url, token_counter=token_counter) as ledger:
            sdk = anthropic.AsyncAnthropic(api_key="k", base_url=model_server[0], max_retries=0)
            client = record_anthropic(sdk, ledger).for_chat("chat-1", "alice")
            whole = await client.messages.create(model="claude", max_tokens=50, messages=[ASK])
            history = [ASK, {"role": "assistant", "content": whole.content},
                       {"role": "user", "content": "More"}]  # fmt: skip
            async with client.messages.stream(model="claude", max_tokens=50,
                                              messages=history) as stream:  # fmt: skip
                async for _ in stream.text_stream:
                    pass
            replay = await ledger.replay_chat("chat-1", "alice")
            assert replay.chat is not None
            return replay.chat.messages

    rows = asyncio.run(main())
    assert [(r["role"], r["status"]) for r in rows] == [
        ("user", "recorded"), ("assistant", "recorded"), ("user", "recorded"),
        ("assistant", "completed"),
    ]  # fmt: skip
    assert rows[-1]["content"] == "You said: More"
