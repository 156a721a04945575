"""A store that cannot take the write: a coded PERSISTENCE_ERROR, fast, nothing half-written, and
a retry with the same message id records the message once."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import psycopg

from chatledger.domain.errors import ErrorCode
from tests.conftest import PipelineFactory


@contextmanager
def table_locked_by_another_writer(database_url: str) -> Iterator[None]:
    """Hold the event table's write lock in another connection, as a stuck writer would."""
    if database_url.startswith("sqlite"):
        connection = sqlite3.connect(urlsplit(database_url).path[1:], isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.rollback()
            connection.close()
        return
    schema = parse_qs(urlsplit(database_url).query)["schema"][0]
    base_url = database_url.split("?")[0]
    with psycopg.connect(base_url) as pg_connection:
        pg_connection.execute(f"LOCK TABLE {schema}.chatledger_events IN EXCLUSIVE MODE")
        yield
        pg_connection.rollback()


def test_locked_store_fails_fast_with_a_retry_hint(
    open_pipeline: PipelineFactory, database_url: str
) -> None:
    pipeline = open_pipeline(lock_timeout_s=1)
    assert pipeline.start_chat("chat-1", "alice").success
    with table_locked_by_another_writer(database_url):
        started = time.monotonic()
        failed = pipeline.persist_user_message("chat-1", "alice", "hello", message_id="m-1")
        waited = time.monotonic() - started
    assert failed.error is not None
    assert failed.error.code == ErrorCode.PERSISTENCE_ERROR
    assert "retry" in failed.error.recovery_hint
    assert waited < 5, "a locked store must fail within the lock timeout, not hang"
    assert len(list(pipeline.events.get("chat-1"))) == 1
    retried = pipeline.persist_user_message("chat-1", "alice", "hello", message_id="m-1")
    assert retried.success
    assert not retried.duplicate
    assert len(list(open_pipeline().events.get("chat-1"))) == 2
