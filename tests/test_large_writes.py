"""Writes of megabytes in one transaction are recorded whole: on PostgreSQL, a batch that large
is sent statement by statement (psycopg's pipeline mode once stalled on it for good, the table
locked). Both backends."""

from __future__ import annotations

import faulthandler
from collections.abc import Iterator

import pytest

from chatledger.domain.pipeline import PersistencePipeline

CHATS, MESSAGES, WORDS = 40, 100, "a fairly long sentence of a long reply " * 50  # ~2 KB each


@pytest.fixture(autouse=True)
def _a_stall_fails() -> Iterator[None]:
    """A stalled write would wait forever: the worker stops with its traceback instead."""
    faulthandler.dump_traceback_later(180, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def test_an_import_of_megabytes_is_recorded_whole_and_once(pipeline: PersistencePipeline) -> None:
    chats = [
        {"chat_id": f"big-{c}", "messages": [
            {"role": "user" if m % 2 == 0 else "assistant", "content": f"{m}: {WORDS}",
             "message_id": f"big-{c}-{m}"} for m in range(MESSAGES)]}
        for c in range(CHATS)
    ]  # fmt: skip
    first = pipeline.import_chats("bulk", chats)
    assert first.success, first.error
    events = pipeline.recorder.select_notifications(1, 10 * CHATS * MESSAGES)
    assert len(events) == CHATS * (MESSAGES + 1)
    assert [n.id for n in events] == sorted({n.id for n in events})
    again = pipeline.import_chats("bulk", chats)
    assert again.success, again.error
    assert len(pipeline.recorder.select_notifications(1, 10 * CHATS * MESSAGES)) == len(events)
