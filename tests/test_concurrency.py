"""Concurrent writers, threads and processes, to one chat and to shared chats: nothing lost,
nothing doubled, versions contiguous, chains intact, statistics exact."""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from chatledger.domain.chain import find_broken_link
from chatledger.domain.chat import Chat
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.bootstrap import bootstrap
from chatledger.infrastructure.settings import Settings
from chatledger.projections.read_side import ReadSide
from chatledger.projections.stats import PersistenceStats
from tests.conftest import PipelineFactory
from tests.reliability_figures import record_figures

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
    pipeline = bootstrap(Settings(database_url=database_url))
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
    bootstrap(Settings(database_url=database_url)).close()
    return True


def test_many_processes_can_start_on_a_new_database_at_once(database_url: str) -> None:
    """Each creates the schema if missing; none may fail because another is creating it."""
    context = multiprocessing.get_context("spawn")
    start_at = time.time() + 3.0
    with context.Pool(8) as pool:
        assert pool.starmap(start_and_close, [(database_url, start_at)] * 8) == [True] * 8


LOAD_PROCESSES = 8
LOAD_MESSAGES_EACH = 500
LOAD_CHATS = 4


def write_load(database_url: str, writer: int, start_at: float) -> list[tuple[str, str, str, int]]:
    """One of 8 writer processes: 500 messages spread over the 4 shared chats, half user
    messages and half replies with provider usage; returns (chat, message id, role, tokens)."""
    pipeline = bootstrap(Settings(database_url=database_url))
    time.sleep(max(0.0, start_at - time.time()))
    written = []
    try:
        for index in range(LOAD_MESSAGES_EACH):
            chat, message_id = f"load-{(writer + index) % LOAD_CHATS}", f"w{writer}-{index}"
            if index % 2:
                result = pipeline.persist_assistant_message(
                    chat, "alice", f"reply {index} of {writer}", message_id=message_id,
                    model="gpt-4o", usage={"input_tokens": index, "output_tokens": writer},
                )  # fmt: skip
            else:
                result = pipeline.persist_user_message(
                    chat, "alice", f"question {index} from writer {writer}", message_id=message_id
                )
            assert result.success and result.tokens is not None, result.error
            role = "assistant" if index % 2 else "user"
            written.append((chat, message_id, role, result.tokens.count))
        return written
    finally:
        pipeline.close()


def test_8_processes_x_500_messages_into_4_shared_chats(
    open_pipeline: PipelineFactory, open_read_side: Callable[..., ReadSide], database_url: str
) -> None:
    pipeline = open_pipeline()
    for chat in range(LOAD_CHATS):
        assert pipeline.start_chat(f"load-{chat}", "alice", model="gpt-4o").success
    context = multiprocessing.get_context("spawn")
    start_at = time.time() + 3.0  # all writing at once, not as they spawn
    with context.Pool(LOAD_PROCESSES) as pool:
        arguments = [(database_url, w, start_at) for w in range(LOAD_PROCESSES)]
        written = [row for rows in pool.starmap(write_load, arguments) for row in rows]
    assert len(written) == LOAD_PROCESSES * LOAD_MESSAGES_EACH

    fresh = open_pipeline()  # a new process's view: no cache
    read_side = open_read_side(fresh, catch_up_on_read=False)
    read_side.catch_up()
    for chat in range(LOAD_CHATS):
        chat_id = f"load-{chat}"
        mine = [row for row in written if row[0] == chat_id]
        events = list(fresh.events.get(chat_id))
        assert [e.originator_version for e in events] == list(range(1, len(mine) + 2))
        assert find_broken_link(chat_id, events) is None
        recorded = [e.message_id for e in events[1:]]  # type: ignore[attr-defined]
        assert sorted(recorded) == sorted(row[1] for row in mine)
        result = read_side.get_message_persistence_stats("alice", chat_id=chat_id)
        assert result.stats is not None
        assert_exact_stats(result.stats, mine)
    total = read_side.get_message_persistence_stats("alice")
    assert total.stats is not None
    assert_exact_stats(total.stats, written)
    record_figures(
        f"concurrency-{database_url.split(':')[0]}",
        processes=LOAD_PROCESSES,
        messages_each=LOAD_MESSAGES_EACH,
        chats=LOAD_CHATS,
        messages_checked=len(written),
        lost=0,
        doubled=0,
    )


def assert_exact_stats(stats: PersistenceStats, rows: list[tuple[str, str, str, int]]) -> None:
    roles = Counter(role for _, _, role, _ in rows)
    replies = [int(message_id.split("-")[1]) for _, message_id, role, _ in rows if role != "user"]
    writers = [int(message_id[1:].split("-")[0]) for _, message_id, role, _ in rows
               if role != "user"]  # fmt: skip
    assert stats.messages == len(rows)
    assert stats.messages_by_role == dict(sorted(roles.items()))
    assert stats.messages_by_status == {"recorded": len(rows)}
    assert stats.tokens_own == sum(tokens for *_, tokens in rows)
    assert stats.tokens_provider_input == sum(replies)
    assert stats.tokens_provider_output == sum(writers)
    assert stats.models == {"gpt-4o": len(replies)}
    assert stats.processing_time.count == len(rows)
