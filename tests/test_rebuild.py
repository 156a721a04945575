"""Rebuilds replay into fresh tables while the current ones answer, then switch in one step."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable

import pytest

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.read_store.postgres_database import PostgresDatabase
from chatledger.infrastructure.read_store.sql_read_model import SqlReadModel
from chatledger.projections.read_side import ReadSide
from chatledger.projections.views import AuditFilter, PositionMovedError
from tests.read_model_oracle import actual_dumps, expected_dumps
from tests.test_read_models import conversation


def tables(read_side: ReadSide) -> set[str]:
    view = read_side.messages
    assert isinstance(view, SqlReadModel)
    with view.database.transaction(write=False) as cursor:
        if view.database.dialect == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        else:
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        return {row[0] for row in cursor.fetchall()}


def indexes(read_side: ReadSide) -> set[str]:
    if read_side.messages.database.dialect == "sqlite":  # type: ignore[attr-defined]
        rows = plain_sql(read_side, "SELECT name FROM sqlite_master WHERE type = 'index'")
    else:
        rows = plain_sql(read_side, "SELECT indexname FROM pg_indexes "
                                    "WHERE schemaname = current_schema()")  # fmt: skip
    return {str(row[0]) for row in rows}


def test_a_rebuilt_table_gets_its_secondary_indexes_at_the_switch(
    pipeline: PersistencePipeline, read_side: ReadSide
) -> None:
    conversation(pipeline)
    runner = read_side.runner("messages")
    building = runner.view.start_generation()
    runner.catch_up(building)
    assert f"messages_g{building}_i0" not in indexes(read_side)  # filled without it
    runner.view.switch_to(building)
    assert f"messages_g{building}_i0" in indexes(read_side)  # (user_id, created_at)
    assert "messages_g1_i0" not in indexes(read_side)


def plain_sql(read_side: ReadSide, sql: str) -> list[tuple[object, ...]]:
    view = read_side.messages
    assert isinstance(view, SqlReadModel)
    with view.database.transaction(write=False) as cursor:
        cursor.execute(sql)
        return [tuple(row) for row in cursor.fetchall()]


def test_a_rebuild_equals_the_incremental_build_and_replaces_it(
    pipeline: PersistencePipeline, read_side: ReadSide
) -> None:
    conversation(pipeline)
    read_side.catch_up()
    incremental = actual_dumps(read_side)
    assert incremental == expected_dumps(pipeline)
    generations = {name: read_side.rebuild(name) for name in read_side.runners}
    assert generations == {"messages": 2, "stats": 2, "audit": 2}
    assert actual_dumps(read_side) == incremental
    assert {"messages_g2", "stats_counters_g2", "audit_index_g2"} <= tables(read_side)
    assert not {"messages_g1", "stats_counters_g1", "audit_index_g1"} & tables(read_side)
    assert plain_sql(read_side, "SELECT count(*) FROM messages WHERE status = 'streaming'") == [
        (1,)
    ]


def test_a_rebuild_leaves_older_objects_out_of_collections_while_it_runs(
    pipeline: PersistencePipeline, read_side: ReadSide
) -> None:
    conversation(pipeline)
    frozen_while_replaying: list[int] = []
    runner = read_side.runner("messages")
    runner.rebuild(lambda position, head: frozen_while_replaying.append(gc.get_freeze_count()))
    assert frozen_while_replaying and min(frozen_while_replaying) > 1000
    assert gc.get_freeze_count() == 0  # collected as before once it ends
    with pytest.raises(PositionMovedError):  # ... also when it fails
        runner.rebuild(failing_progress)
    assert gc.get_freeze_count() == 0


def failing_progress(position: int, head: int) -> None:
    raise PositionMovedError("stands in for any failure mid-replay")


def test_rebuilds_of_the_statistics_share_one_temporary_table_per_session(
    pipeline: PersistencePipeline, read_side: ReadSide
) -> None:
    database = read_side.stats.database  # type: ignore[attr-defined]
    if not isinstance(database, PostgresDatabase):
        pytest.skip("PostgreSQL stages counters in a temporary table; SQLite upserts them")
    conversation(pipeline)
    for _ in range(3):
        read_side.rebuild("stats")
    sessions = [database.pool.getconn() for _ in range(database.pool.max_size)]
    try:
        staging = [
            session.execute(
                "SELECT relname FROM pg_class WHERE relnamespace = pg_my_temp_schema()"
            ).fetchall()
            for session in sessions
        ]
    finally:
        for session in sessions:
            database.pool.putconn(session)
    assert {name for tables in staging for (name,) in tables} == {"stats_counters_added"}


def test_an_interrupted_rebuild_resumes_and_a_restart_starts_over(
    pipeline: PersistencePipeline, open_read_side: Callable[..., ReadSide]
) -> None:
    conversation(pipeline)
    read_side = open_read_side(pipeline, batch_size=3)
    read_side.catch_up()
    runner = read_side.runner("audit")
    generation = runner.view.start_generation()

    def crash(position: int, head: int) -> None:
        raise KeyboardInterrupt  # the operator's Ctrl-C after the first batch

    with pytest.raises(KeyboardInterrupt):
        runner.catch_up(generation, crash)
    assert runner.status().building == generation
    assert runner.status().building_position == 3
    assert len(read_side.audit.entries(AuditFilter())) > 3  # the current generation still answers
    assert runner.rebuild() == generation  # resumed, not restarted
    assert actual_dumps(read_side)["audit"] == expected_dumps(pipeline)["audit"]
    runner.view.start_generation()
    assert runner.rebuild(restart=True) == generation + 2
    assert actual_dumps(read_side)["audit"] == expected_dumps(pipeline)["audit"]


def test_reads_during_a_rebuild_are_never_empty_or_partial(
    pipeline: PersistencePipeline, open_read_side: Callable[..., ReadSide]
) -> None:
    conversation(pipeline)
    for index in range(40):
        pipeline.persist_user_message("c-b", "bob", f"more {index}", message_id=f"x{index}")
    rebuilder = open_read_side(pipeline, batch_size=5, catch_up_on_read=False)
    rebuilder.catch_up()
    reader = open_read_side(pipeline, catch_up_on_read=False)
    expected_messages = reader.messages.messages("c-b")
    expected_stats = reader.get_message_persistence_stats("bob").stats
    expected_audit = reader.audit.entries(AuditFilter(user_id="bob"))
    done, wrong, reads = threading.Event(), [], 0

    def read_until_done() -> None:
        nonlocal reads
        while not done.is_set():
            if reader.messages.messages("c-b") != expected_messages:
                wrong.append("messages")
            if reader.get_message_persistence_stats("bob").stats != expected_stats:
                wrong.append("stats")
            if reader.audit.entries(AuditFilter(user_id="bob")) != expected_audit:
                wrong.append("audit")
            reads += 1

    thread = threading.Thread(target=read_until_done)
    thread.start()
    try:
        for _ in range(2):
            for name in rebuilder.runners:
                rebuilder.rebuild(name)
    finally:
        done.set()
        thread.join()
    assert wrong == []
    assert reads > 3
