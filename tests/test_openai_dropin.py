"""The OpenAI SDK drop-in, driven through the real `openai` package over real HTTP against a
local server that speaks OpenAI's wire format: the ledger holds exactly what happened, and the
caller gets the provider's own result or exception."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
from typing import Any

import openai
import pytest

from chatledger import AsyncLedger, Ledger, record_openai, recording_chat
from chatledger.infrastructure.tokenizer.tiktoken_counter import TiktokenCounter
from tests.conftest import ModelServer

SYSTEM = {"role": "system", "content": "Answer briefly. 🌍"}
ASK = {"role": "user", "content": "What is the weather in Paris? 🙂"}


def sdk_client(base: str) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-local", base_url=f"{base}/v1", max_retries=0)


def recorded(ledger: Ledger, chat_id: str = "chat-1", user_id: str = "alice") -> list[Any]:
    replay = ledger.replay_chat(chat_id, user_id)
    assert replay.success and replay.chat is not None, replay.error
    return replay.chat.messages


def test_a_conversation_with_a_tool_call_and_a_streamed_answer_is_recorded_once(
    ledger: Ledger, model_server: ModelServer
) -> None:
    base, requests = model_server
    client = record_openai(sdk_client(base), ledger)
    messages: list[Any] = [SYSTEM, ASK]
    with recording_chat("chat-1", "alice"):
        first = client.chat.completions.create(
            model="gpt-4o-tools", messages=messages, temperature=0.2, seed=7
        )
        assert isinstance(first, openai.types.chat.ChatCompletion)  # the SDK's own object
        (call,) = first.choices[0].message.tool_calls or []
        result = {"role": "tool", "tool_call_id": call.id, "content": "18 °C, sunny"}
        messages += [first.choices[0].message, result]
        chunks = list(client.chat.completions.create(
            model="gpt-4o", messages=messages, stream=True,
            stream_options={"include_usage": True},
        ))  # fmt: skip
        answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert all(isinstance(c, openai.types.chat.ChatCompletionChunk) for c in chunks)
        messages += [
            {"role": "assistant", "content": answer},
            {"role": "user", "content": "Thanks"},
        ]
        client.chat.completions.create(model="gpt-4o", messages=messages)

    rows = recorded(ledger)
    assert [(r["role"], r["status"]) for r in rows] == [
        ("system", "recorded"), ("user", "recorded"), ("assistant", "recorded"),
        ("tool", "recorded"), ("assistant", "completed"), ("user", "recorded"),
        ("assistant", "recorded"),
    ]  # fmt: skip
    assert [r["content"] for r in rows[:2]] == [SYSTEM["content"], ASK["content"]]
    tool_reply, streamed = rows[2], rows[4]
    assert tool_reply["finish_reasons"] == '["tool_calls"]'
    assert call.id in tool_reply["tool_calls"] and "get_weather" in tool_reply["tool_calls"]
    assert tool_reply["temperature"] == 0.2 and tool_reply["seed"] == 7
    assert tool_reply["response_id"] == first.id and tool_reply["provider"] == "openai"
    assert tool_reply["response_model"] == first.model and tool_reply["model"] == "gpt-4o-tools"
    assert rows[3]["tool_call_id"] == call.id
    assert streamed["content"] == answer == f"You said: {ASK['content']}"
    assert streamed["chunk_count"] == len([c for c in chunks if c.choices])
    assert streamed["first_chunk_ms"] is not None and streamed["finish_reasons"] == '["stop"]'
    assert (streamed["provider_input_tokens"], streamed["cached_input_tokens"]) == (11, 3)
    assert len(requests) == 3 and requests[0]["messages"] == [SYSTEM, ASK]  # sent unchanged
    assert ledger.verify().intact


def test_resending_the_history_records_nothing_twice_and_a_regenerated_reply_is_kept(
    ledger: Ledger, model_server: ModelServer
) -> None:
    client = record_openai(sdk_client(model_server[0]), ledger).for_chat("chat-1", "alice")
    for _ in range(2):  # the user asks again: the same prompt, a second reply
        client.chat.completions.create(model="gpt-4o", messages=[SYSTEM, ASK])
    rows = recorded(ledger)
    assert [r["role"] for r in rows] == ["system", "user", "assistant", "assistant"]
    reply = rows[2]["content"]
    edited = [SYSTEM, ASK, {"role": "assistant", "content": reply},
              {"role": "user", "content": "And in Rome?"}]  # fmt: skip
    client.chat.completions.create(model="gpt-4o", messages=edited)
    assert [r["role"] for r in recorded(ledger)][4:] == ["user", "assistant"]


@pytest.mark.parametrize(("model", "kind", "code"), [
    ("gpt-4o-429", openai.RateLimitError, "PROVIDER_RATE_LIMITED"),
    ("gpt-4o-500", openai.InternalServerError, "PROVIDER_SERVER_ERROR"),
])  # fmt: skip
@pytest.mark.parametrize("stream", [False, True])
def test_a_provider_error_reaches_the_caller_and_is_recorded_with_its_code(
    ledger: Ledger, model_server: ModelServer, model: str, kind: type,
    code: str, stream: bool,
) -> None:  # fmt: skip
    client = record_openai(sdk_client(model_server[0]), ledger, chat_id="chat-1", user_id="alice")
    with pytest.raises(kind):
        client.chat.completions.create(model=model, messages=[ASK], stream=stream)
    reply = recorded(ledger)[-1]
    assert (reply["role"], reply["error_code"]) == ("assistant", code)
    assert reply["status"] == ("failed" if stream else "recorded")
    assert "HTTP" in reply["error_message"] and ASK["content"] not in reply["error_message"]


def test_a_stream_cut_mid_way_is_recorded_failed_with_what_had_arrived(
    ledger: Ledger, model_server: ModelServer
) -> None:
    client = record_openai(sdk_client(model_server[0]), ledger, chat_id="chat-1", user_id="alice")
    seen: list[str] = []

    def read_all() -> None:
        for chunk in client.chat.completions.create(model="m-cut", messages=[ASK], stream=True):
            seen.append(chunk.choices[0].delta.content or "")

    with pytest.raises(openai.APIConnectionError):
        read_all()
    reply = recorded(ledger)[-1]
    assert (reply["status"], reply["error_code"]) == ("failed", "PROVIDER_STREAM_CUT")
    assert reply["content"] == "".join(seen) != ""
    assert ledger.verify().intact


@pytest.mark.parametrize("how", ["break", "with", "close"])
def test_a_caller_that_stops_reading_leaves_an_abandoned_stream(
    ledger: Ledger, model_server: ModelServer, how: str
) -> None:
    client = record_openai(sdk_client(model_server[0]), ledger, chat_id="chat-1", user_id="alice")
    stream = client.chat.completions.create(model="gpt-4o", messages=[ASK], stream=True)
    if how == "with":
        with stream:
            next(stream)
    elif how == "close":
        next(stream)
        stream.close()
    else:
        for _ in stream:
            break
        del stream
        gc.collect()
    reply = recorded(ledger)[-1]
    assert (reply["status"], reply["error_code"]) == ("abandoned", "STREAM_ABANDONED")


def test_the_ledgers_failure_never_breaks_the_call(
    ledger: Ledger, model_server: ModelServer
) -> None:
    ledger.start_chat("chat-1", "bob")  # not alice's chat
    client = record_openai(sdk_client(model_server[0]), ledger, chat_id="chat-1", user_id="alice")
    answer = client.chat.completions.create(model="gpt-4o", messages=[ASK])
    assert answer.choices[0].message.content == f"You said: {ASK['content']}"
    counts = client.recording_counts
    assert counts["not_recorded"] >= 2 and counts["UNAUTHORIZED"] >= 1
    ledger.close()  # the store is gone: the calls still answer, streamed too
    assert client.chat.completions.create(model="gpt-4o", messages=[ASK]).choices
    assert list(client.chat.completions.create(model="gpt-4o", messages=[ASK], stream=True))


def test_a_call_outside_any_chat_goes_through_and_is_counted(
    ledger: Ledger, model_server: ModelServer
) -> None:
    client = record_openai(sdk_client(model_server[0]), ledger)
    assert client.chat.completions.create(model="gpt-4o", messages=[ASK]).choices
    assert client.recording_counts == {"not_recorded": 1, "no_chat": 1}
    assert client.models is not None  # everything else is the SDK's own


def test_the_async_client_records_without_blocking_the_loop(
    database_url: str,
    token_counter: TiktokenCounter,
    model_server: ModelServer,
) -> None:
    async def main() -> list[Any]:
        async with await AsyncLedger.open(database_url, token_counter=token_counter) as ledger:
            sdk = openai.AsyncOpenAI(api_key="k", base_url=f"{model_server[0]}/v1", max_retries=0)
            client = record_openai(sdk, ledger)
            with recording_chat("chat-1", "alice"):
                whole = await client.chat.completions.create(model="gpt-4o", messages=[ASK])
                history = [ASK, whole.choices[0].message, {"role": "user", "content": "More"}]
                stream = await client.chat.completions.create(
                    model="gpt-4o-tools", messages=history, stream=True
                )
                async for _ in stream:
                    pass
            replay = await ledger.replay_chat("chat-1", "alice")
            assert replay.chat is not None
            return replay.chat.messages

    rows = asyncio.run(main())
    assert [(r["role"], r["status"]) for r in rows] == [
        ("user", "recorded"), ("assistant", "recorded"), ("user", "recorded"),
        ("assistant", "completed"),
    ]  # fmt: skip
    (call,) = json.loads(rows[-1]["tool_calls"])
    assert (call["name"], json.loads(call["arguments"])) == (
        "get_weather",
        {"city": "Paris", "unit": "celsius"},
    )


def test_either_ledger_serves_either_client(ledger: Ledger, model_server: ModelServer) -> None:
    sync_client = record_openai(sdk_client(model_server[0]), AsyncLedger(ledger), chat_id="chat-1",
                                user_id="alice")  # fmt: skip
    sync_client.chat.completions.create(model="gpt-4o", messages=[ASK])
    sdk = openai.AsyncOpenAI(api_key="k", base_url=f"{model_server[0]}/v1", max_retries=0)
    async_client = record_openai(sdk, ledger)
    bound = async_client.for_chat("chat-1", "alice")
    assert bound._ledger is async_client._ledger  # one thread pool, however many chats

    async def ask() -> None:
        await bound.chat.completions.create(
            model="gpt-4o", messages=[ASK, {"role": "user", "content": "Go on"}]
        )

    asyncio.run(ask())
    assert [r["role"] for r in recorded(ledger)] == ["user", "assistant", "user", "assistant"]


def test_a_request_or_answer_it_cannot_read_never_breaks_the_call(
    ledger: Ledger, model_server: ModelServer
) -> None:
    client = record_openai(sdk_client(model_server[0]), ledger, chat_id="chat-1",
                           user_id="alice")  # fmt: skip

    def unreadable(*args: Any) -> Any:
        raise KeyError("a shape the drop-in does not know")

    completions = client.chat.completions
    normal = completions.form
    for broken in (dataclasses.replace(normal, message_items=unreadable),
                   dataclasses.replace(normal, whole_reply=unreadable)):  # fmt: skip
        completions.form = broken
        assert client.chat.completions.create(model="gpt-4o", messages=[ASK]).choices
    completions.form = dataclasses.replace(normal, assembler=lambda: Unreadable())
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=[ASK], stream=True))
    assert len(chunks) > 3  # every chunk reached the caller
    assert client.recording_counts["unreadable"] == 3
    assert recorded(ledger)[-1]["status"] == "completed"  # closed, with what could be read


class Unreadable:
    def add(self, chunk: Any) -> str | None:
        raise ValueError("no")

    def reply(self) -> Any:
        raise ValueError("no")
