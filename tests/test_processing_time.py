"""A message's processing_ms is its own cost: the one-time load of a tokenizer encoding is not
in it, whether the ledger loaded the encoding when it opened or the first message to need it did."""

from __future__ import annotations

from time import perf_counter

from structlog.testing import capture_logs
from structlog.typing import EventDict, WrappedLogger

from chatledger.domain.chat import Chat
from chatledger.infrastructure.bootstrap import bootstrap
from chatledger.infrastructure.ledger.ledger import Ledger
from chatledger.infrastructure.settings import Settings
from chatledger.infrastructure.tokenizer.tiktoken_counter import TiktokenCounter

HOUR_S = 3600.0


class ClockWhereLoadsTakeAnHour:
    """perf_counter, an hour ahead for each encoding loaded so far: a measured span that held a
    load would last an hour, one that did not lasts what the message took."""

    def __init__(self) -> None:
        self.ahead_s = 0.0

    def __call__(self) -> float:
        return perf_counter() + self.ahead_s

    def on_log(self, logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
        if event["event"] == "tokenizer_loaded":
            self.ahead_s += HOUR_S
        return event


def loaded_encodings(logs: list[EventDict]) -> list[str]:
    return [log["encoding"] for log in logs if log["event"] == "tokenizer_loaded"]


def test_the_first_message_to_need_an_encoding_does_not_count_its_load(database_url: str) -> None:
    clock = ClockWhereLoadsTakeAnHour()
    settings = Settings(database_url=database_url)
    with capture_logs(processors=[clock.on_log]) as logs:
        pipeline = bootstrap(settings, token_counter=TiktokenCounter(), clock=clock)
        try:
            assert pipeline.start_chat("c", "alice", model="gpt-4").success
            assert pipeline.persist_user_message("c", "alice", "Hello", message_id="m1").success
            opened = pipeline.open_stream("c", "alice", model="gpt-4o")
            assert opened.stream is not None, opened.error
            opened.stream.add_chunk("Hi there")
            assert pipeline.complete_stream(opened.stream).success
            recorded = list(pipeline.events.get("c"))
        finally:
            pipeline.close()

    assert loaded_encodings(logs) == ["cl100k_base", "o200k_base"]  # gpt-4's, then gpt-4o's
    messages = (Chat.UserMessageRecorded, Chat.StreamCompleted)
    measured = [event.processing_ms for event in recorded if isinstance(event, messages)]
    assert len(measured) == 2
    assert all(ms < HOUR_S * 1000 for ms in measured)  # no load inside either measured span


def test_a_ledger_opens_with_the_default_encoding_loaded(database_url: str) -> None:
    with capture_logs() as at_open:
        ledger = Ledger(database_url)  # with its own tokenizer: nothing loaded before
    with ledger, capture_logs() as later:
        assert ledger.start_chat("c", "alice", model="gpt-4o").success
        assert ledger.persist_user_message("c", "alice", "Hello", message_id="m1").success
        assert ledger.persist_assistant_message("c", "alice", "Hi", model="unknown-model").success

    assert loaded_encodings(at_open) == ["o200k_base"]  # current models' and unknown ones'
    assert loaded_encodings(later) == []
