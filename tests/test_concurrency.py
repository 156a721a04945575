"""Concurrent writers to one chat, threads and processes: nothing lost, nothing doubled."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ThreadPoolExecutor

from domain.chain import find_broken_link
from domain.chat import Chat
from domain.pipeline import PersistencePipeline
from infrastructure.bootstrap import bootstrap
from infrastructure.settings import Settings
from tests.conftest import PipelineFactory

WRITERS = 4
MESSAGES_EACH = 25


def assert_all_recorded_once(
    pipeline: PersistencePipeline, chat_id: str, expected_ids: set[str]
) -> None:
    events = list(pipeline.events.get(chat_id))
    assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
    recorded = [e.message_id for e in events if isinstance(e, Chat.UserMessageRecorded)]
    assert sorted(recorded) == sorted(expected_ids)
    assert find_broken_link(chat_id, events) is None


def write_messages(database_url: str, writer: int) -> list[str]:
    """One writer process: its own pipeline, as a separate backend process would have."""
    pipeline = bootstrap(Settings(database_url=database_url), configure_logs=False)
    try:
        results = [
            pipeline.persist_user_message(
                "shared", "alice", f"hello {i}", message_id=f"w{writer}-{i}"
            )
            for i in range(MESSAGES_EACH)
        ]
        return [r.error.code.value for r in results if r.error]
    finally:
        pipeline.close()


def test_threads_writing_to_one_chat_lose_nothing(open_pipeline: PipelineFactory) -> None:
    pipeline = open_pipeline()
    assert pipeline.start_chat("shared", "alice").success

    def write(writer: int) -> list[bool]:
        return [
            pipeline.persist_user_message(
                "shared", "alice", f"hi {i}", message_id=f"t{writer}-{i}"
            ).success
            for i in range(MESSAGES_EACH)
        ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = [ok for batch in pool.map(write, range(8)) for ok in batch]
    assert all(outcomes)
    expected = {f"t{w}-{i}" for w in range(8) for i in range(MESSAGES_EACH)}
    assert_all_recorded_once(pipeline, "shared", expected)


def test_processes_writing_to_one_chat_lose_nothing(
    open_pipeline: PipelineFactory, database_url: str
) -> None:
    pipeline = open_pipeline()
    assert pipeline.start_chat("shared", "alice").success
    context = multiprocessing.get_context("spawn")
    with context.Pool(WRITERS) as pool:
        failures = pool.starmap(write_messages, [(database_url, w) for w in range(WRITERS)])
    assert failures == [[]] * WRITERS
    expected = {f"w{w}-{i}" for w in range(WRITERS) for i in range(MESSAGES_EACH)}
    fresh = open_pipeline()  # a new process's view: no cache
    assert_all_recorded_once(fresh, "shared", expected)


def test_a_retry_racing_the_original_records_once(open_pipeline: PipelineFactory) -> None:
    pipeline = open_pipeline()
    assert pipeline.start_chat("shared", "alice").success

    def send(_: int) -> tuple[bool, bool]:
        result = pipeline.persist_user_message("shared", "alice", "same", message_id="m-race")
        return result.success, result.duplicate

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(send, range(6)))
    assert all(ok for ok, _ in outcomes)
    assert sum(1 for _, duplicate in outcomes if not duplicate) == 1
    assert_all_recorded_once(pipeline, "shared", {"m-race"})


def test_a_chat_changed_by_another_process_is_reloaded_not_overwritten(
    open_pipeline: PipelineFactory,
) -> None:
    first, second = open_pipeline(), open_pipeline()  # two processes, two caches
    assert first.start_chat("shared", "alice").success
    assert first.persist_user_message("shared", "alice", "one", message_id="m1").success
    assert second.persist_user_message("shared", "alice", "two", message_id="m2").success
    stale_write = first.persist_user_message("shared", "alice", "three", message_id="m3")
    assert stale_write.success
    assert stale_write.version == 4
    stale_retry = first.persist_user_message("shared", "alice", "two", message_id="m2")
    assert stale_retry.duplicate
    assert_all_recorded_once(open_pipeline(), "shared", {"m1", "m2", "m3"})


def start_and_close(database_url: str, start_at: float) -> bool:
    time.sleep(max(0.0, start_at - time.time()))  # all at the same moment, not as they spawn
    bootstrap(Settings(database_url=database_url), configure_logs=False).close()
    return True


def test_many_processes_can_start_on_a_new_database_at_once(database_url: str) -> None:
    """Each creates the schema if missing; none may fail because another is creating it."""
    context = multiprocessing.get_context("spawn")
    start_at = time.time() + 3.0
    with context.Pool(8) as pool:
        assert pool.starmap(start_and_close, [(database_url, start_at)] * 8) == [True] * 8
