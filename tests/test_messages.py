"""Persisting user and assistant messages: results, recorded fields, round trips."""

from __future__ import annotations

from chatledger.domain.chat import Chat
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.tokenizer.tiktoken_counter import TiktokenCounter

HOSTILE_BUT_VALID = "NUL\x00 bytes, emoji 🧾👩‍💻, control \x07\x1b, RTL \u202e, CJK 漢字, \r\n end"


def events(pipeline: PersistencePipeline, chat_id: str) -> list[object]:
    return list(pipeline.events.get(chat_id))


def test_user_message_is_recorded_with_metadata(
    pipeline: PersistencePipeline, chat: str, token_counter: TiktokenCounter
) -> None:
    content = "Write a Python function that sums a list, please"
    result = pipeline.persist_user_message(
        chat, "alice", content,
        context={"document_chunks": ["doc-1#3"], "insights": ["ins-9"]},
        metadata={"client": "web", "nested": {"a": [1, 2.5, None, True]}},
        message_id="m-1",
    )  # fmt: skip
    assert result.success and result.message_id == "m-1" and result.version == 2
    assert result.tokens is not None and result.tokens.encoding == "o200k_base"
    assert result.tokens.count == len(token_counter.encoding("o200k_base").encode_ordinary(content))
    assert result.processing_ms > 0 and result.error is None
    event = events(pipeline, chat)[1]
    assert isinstance(event, Chat.UserMessageRecorded)
    assert pipeline.content_of(event) == content and event.user_id == "alice"
    assert event.intent["name"] == "code_request" and 0 < event.intent["confidence"] <= 1
    assert set(event.intent["keywords"]) >= {"python", "function"}
    assert event.context["document_chunks"] == ["doc-1#3"] and event.context["metrics"] == []
    assert event.metadata == {"client": "web", "nested": {"a": [1, 2.5, None, True]}}
    assert event.tokens == result.tokens.model_dump()
    assert event.pipeline_version.startswith("chatledger/")


def test_content_round_trips_exactly(pipeline: PersistencePipeline, chat: str) -> None:
    result = pipeline.persist_user_message(chat, "alice", HOSTILE_BUT_VALID, message_id="m-x")
    assert result.success, result.error
    reopened = events(pipeline, chat)[1]
    assert isinstance(reopened, Chat.UserMessageRecorded)
    content = pipeline.content_of(reopened) or ""
    assert content.encode("utf-8") == HOSTILE_BUT_VALID.encode("utf-8")


def test_assistant_message_records_generation_details(
    pipeline: PersistencePipeline, chat: str
) -> None:
    result = pipeline.persist_assistant_message(
        chat, "alice", "Here is the function.",
        intent={"name": "code_request", "confidence": 0.8, "keywords": ["python"]},
        context={"jtbds": ["jtbd-1"], "metrics": ["m-42"]},
        model="gpt-4", temperature=0.2, generation_ms=812.5,
        usage={"input_tokens": 31, "output_tokens": 5},
        metadata={"generation_source": "openai"}, message_id="a-1",
    )  # fmt: skip
    assert result.success and result.tokens is not None
    assert result.tokens.encoding == "cl100k_base"  # the reply's model, not the chat's
    event = events(pipeline, chat)[1]
    assert isinstance(event, Chat.AssistantMessageRecorded)
    assert (event.model, event.temperature, event.generation_ms) == ("gpt-4", 0.2, 812.5)
    assert event.usage == {"input_tokens": 31, "output_tokens": 5, "source": "provider"}
    assert event.tokens["count"] == result.tokens.count
    assert event.context["jtbds"] == ["jtbd-1"] and event.intent is not None
    assert event.error_code is None


def test_failed_generation_is_recorded_too(pipeline: PersistencePipeline, chat: str) -> None:
    result = pipeline.persist_assistant_message(
        chat, "alice", "", error_code="RATE_LIMITED", error_message="429 from provider",
        model="gpt-4o",
    )  # fmt: skip
    assert result.success and "empty reply recorded" in result.warnings
    event = events(pipeline, chat)[1]
    assert isinstance(event, Chat.AssistantMessageRecorded)
    assert (event.error_code, event.error_message, pipeline.content_of(event)) == (
        "RATE_LIMITED", "429 from provider", "",
    )  # fmt: skip


def test_unknown_model_counts_with_default_encoding_and_warns(
    pipeline: PersistencePipeline, chat: str
) -> None:
    result = pipeline.persist_assistant_message(chat, "alice", "hello", model="alpaca-13b")
    assert result.success and result.tokens is not None
    assert (result.tokens.encoding, result.tokens.exact_model) == ("o200k_base", False)
    assert any("alpaca-13b" in w for w in result.warnings)


def test_generated_message_ids_are_unique(pipeline: PersistencePipeline, chat: str) -> None:
    ids = {pipeline.persist_user_message(chat, "alice", f"hi {i}").message_id for i in range(5)}
    assert len(ids) == 5 and all(i and i.startswith("msg_") for i in ids)


def test_prompt_tokens_follow_openais_chat_accounting(
    pipeline: PersistencePipeline, token_counter: TiktokenCounter
) -> None:
    messages = [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "Summarise: 🧾 receipts", "name": "bob"},
        {"role": "assistant", "content": ""},
    ]
    encoding = token_counter.encoding("cl100k_base")

    def tokens(text: str) -> int:
        return len(encoding.encode_ordinary(text))

    expected = 3 + sum(3 + tokens(m["role"]) + tokens(m["content"]) for m in messages)
    expected += 1 + tokens("bob")
    result = pipeline.count_prompt_tokens(messages, model="gpt-4")
    assert result.success
    assert result.tokens is not None
    assert (result.tokens.count, result.tokens.encoding) == (expected, "cl100k_base")


def test_prompt_tokens_reject_malformed_messages(pipeline: PersistencePipeline) -> None:
    result = pipeline.count_prompt_tokens([{"role": "user"}], model="gpt-4o")
    assert result.error is not None
    assert result.error.code == "VALIDATION_ERROR"
    assert pipeline.count_prompt_tokens(["not a message"]).error is not None
