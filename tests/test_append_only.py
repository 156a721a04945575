"""Storage refuses rewriting history through plain SQL; snapshots and read models stay writable."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import PersistenceError

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.read_store.sql_read_model import SqlReadModel
from chatledger.projections.read_side import ReadSide

EVENT_TABLE = {"sqlite": "stored_events", "postgres": "chatledger_events"}
REWRITES = {
    "update": "UPDATE {table} SET state = state",
    "delete": "DELETE FROM {table}",
    "truncate": "TRUNCATE {table}",
}


@pytest.mark.parametrize("rewrite", sorted(REWRITES))
def test_plain_sql_cannot_rewrite_the_event_log(
    pipeline: PersistencePipeline, read_side: ReadSide, backend: str, rewrite: str
) -> None:
    if rewrite == "truncate" and backend == "sqlite":
        pytest.skip("SQLite has no TRUNCATE; DELETE covers it")
    pipeline.start_chat("c", "alice")
    pipeline.persist_user_message("c", "alice", "keep me", message_id="m1")
    view = read_side.messages
    assert isinstance(view, SqlReadModel)
    with pytest.raises(PersistenceError, match="append-only"):  # noqa: SIM117
        with view.database.transaction() as cursor:
            cursor.execute(REWRITES[rewrite].format(table=EVENT_TABLE[backend]))
    assert len(list(pipeline.events.get("c"))) == 2


def test_read_models_and_snapshots_stay_writable(
    pipeline: PersistencePipeline, read_side: ReadSide
) -> None:
    pipeline.start_chat("c", "alice")
    pipeline.persist_user_message("c", "alice", "hello", message_id="m1")
    read_side.catch_up()
    read_side.rebuild("messages")  # drops and creates read-model tables
    pipeline.take_snapshot("c")
    assert [row["message_id"] for row in read_side.messages.messages("c")] == ["m1"]
