"""Verify checks every row of the audit index and the messages table against the event it says
it stands for, on both backends: a row altered, removed or made up in the database is named
(chat, version, read model, field) like a broken link, and `chatledger verify` exits 1; rows the
read models have not written yet (they lag the log) are no finding."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.cli.main import app
from chatledger.infrastructure.read_store.sql_database import Cursor
from chatledger.infrastructure.read_store.sql_read_model import SqlReadModel
from chatledger.projections.read_side import ReadSide
from chatledger.projections.row_check import RowMismatch
from tests.tampering import Tamper, chats, set_state

RowChange = Callable[[Cursor, str], None]


def recorded(pipeline: PersistencePipeline, read_side: ReadSide) -> None:
    """c1 and c2 (a start and five messages each, alice's), and a streamed reply in c2 that
    closed: its row stands for its last event. The read models are caught up."""
    chats(pipeline)
    opened = pipeline.open_stream("c2", "alice", model="gpt-4o", message_id="reply")
    assert opened.stream is not None
    opened.stream.add_chunk("streamed")
    assert pipeline.complete_stream(opened.stream).success
    read_side.catch_up()


def change_rows(read_side: ReadSide, read_model: str, change: RowChange) -> None:
    """Run SQL on a read model's current table, as someone with the database's rights could."""
    view = read_side.runner(read_model).view
    assert isinstance(view, SqlReadModel)
    table = view.spec.table(view.generations().current)
    with view.database.transaction() as cursor:
        change(cursor, table)


def setting(column: str, value: Any, where: str, *params: Any) -> RowChange:
    def change(cursor: Cursor, table: str) -> None:
        cursor.execute(f"UPDATE {table} SET {column} = ? WHERE {where}", (value, *params))
        assert cursor.rowcount == 1

    return change


def findings(result: Any) -> list[tuple[str, str, int, str]]:
    return [(m.read_model, m.chat_id, m.version, m.field) for m in result.mismatches]


def test_an_intact_log_and_its_read_models_verify(
    pipeline: PersistencePipeline, read_side: ReadSide
) -> None:
    recorded(pipeline, read_side)
    whole, one = read_side.verify(), read_side.verify("c2")
    assert (whole.intact, whole.mismatches, whole.events) == (True, [], 14)
    assert (one.intact, one.mismatches) == (True, [])


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [("user_id", "mallory", "alice"), ("message_id", "m9", "m1"), ("event_hash", "f" * 64, None)],
)
def test_an_altered_audit_index_row_is_named(
    pipeline: PersistencePipeline, read_side: ReadSide, column: str, value: str, expected: str
) -> None:
    recorded(pipeline, read_side)
    change_rows(read_side, "audit", setting(column, value, "chat_id = ? AND version = ?", "c1", 3))
    for result in (read_side.verify(), read_side.verify("c1")):
        assert not result.intact
        assert result.broken == []
        (mismatch,) = result.mismatches
        assert (mismatch.read_model, mismatch.chat_id, mismatch.version, mismatch.field) == (
            "audit_index", "c1", 3, column)  # fmt: skip
        assert mismatch.found == value
        assert mismatch.expected == (expected or stored_hash(pipeline, "c1", 3))


@pytest.mark.parametrize(
    ("column", "value"), [("user_id", "mallory"), ("role", "system"), ("event_hash", "0" * 64)]
)
def test_an_altered_messages_row_is_named(
    pipeline: PersistencePipeline, read_side: ReadSide, column: str, value: str
) -> None:
    recorded(pipeline, read_side)
    change_rows(read_side, "messages", setting(column, value, "message_id = ?", "reply"))
    for result in (read_side.verify(), read_side.verify("c2")):
        assert not result.intact
        assert [(m.read_model, m.chat_id, m.version, m.field, m.found)
                for m in result.mismatches] == [("messages", "c2", 8, column, value)]  # fmt: skip


def test_removed_and_made_up_rows_are_named(
    pipeline: PersistencePipeline, read_side: ReadSide
) -> None:
    recorded(pipeline, read_side)

    def remove(cursor: Cursor, table: str) -> None:
        cursor.execute(f"DELETE FROM {table} WHERE chat_id = 'c1' AND version = 4")

    def make_up(cursor: Cursor, table: str) -> None:
        cursor.execute(f"INSERT INTO {table} (position, recorded_at, chat_id, user_id, "
                       "event_type, message_id, version, event_hash) VALUES "
                       "(900, '2026-01-01T00:00:00+00:00', 'c1', 'alice', "
                       "'UserMessageRecorded', 'm7', 9, ?)", ("a" * 64,))  # fmt: skip

    change_rows(read_side, "audit", remove)
    change_rows(read_side, "audit", make_up)
    change_rows(read_side, "messages", remove)
    expected = [("audit_index", "c1", 9, "row"), ("audit_index", "c1", 4, "row"),
                ("messages", "c1", 4, "row")]  # fmt: skip
    assert findings(read_side.verify()) == expected
    assert findings(read_side.verify("c1")) == expected
    assert read_side.verify("c1").mismatches[0].found == "a row at position 900"


def test_rows_the_read_models_have_not_written_yet_are_no_finding(
    pipeline: PersistencePipeline, read_side: ReadSide
) -> None:
    """The read models lag the log (a projection runs elsewhere): events past their position
    have no row yet, and a stream closed since still has the row of its opening."""
    chats(pipeline)
    opened = pipeline.open_stream("c1", "alice", message_id="open")
    assert opened.stream is not None
    read_side.catch_up()
    pipeline.persist_user_message("c1", "alice", "not projected yet", message_id="late")
    assert pipeline.complete_stream(opened.stream).success
    assert read_side.verify().mismatches == []
    assert read_side.verify("c1").mismatches == []
    read_side.catch_up()
    assert read_side.verify().intact


def test_the_command_names_the_row_and_exits_1(
    pipeline: PersistencePipeline, read_side: ReadSide, database_url: str
) -> None:
    recorded(pipeline, read_side)
    change_rows(read_side, "audit", setting("user_id", "mallory", "chat_id = 'c2' AND version = 2"))
    runner = CliRunner()
    answer = runner.invoke(app, ["verify", "--database-url", database_url, "--json"])
    assert answer.exit_code == 1, answer.output
    report = json.loads(answer.stdout)
    assert (report["intact"], report["broken"]) == (False, [])
    assert report["mismatches"] == [vars(RowMismatch("audit_index", "c2", 2, "user_id", "alice",
                                                     "mallory"))]  # fmt: skip
    text = runner.invoke(app, ["verify", "--database-url", database_url, "--chat", "c2"])
    assert text.exit_code == 1
    assert "BROKEN" in text.stdout and "mallory" in text.stdout and "audit_index" in text.stdout


def stored_hash(pipeline: PersistencePipeline, chat: str, version: int) -> str:
    (event,) = pipeline.events.get(chat, gt=version - 1, lte=version)
    return str(event.hash)  # type: ignore[attr-defined]


def test_an_event_that_does_not_read_is_a_broken_link_not_a_row_mismatch(
    pipeline: PersistencePipeline, read_side: ReadSide, tamper: Tamper
) -> None:
    """Damaged after it was indexed (its rows stay) or before (the read models quarantined it
    and wrote no row): the chain names it; its rows, or their absence, are no finding."""
    chats(pipeline)
    read_side.catch_up()
    tamper(lambda cursor, table: set_state(cursor, table, "c1", 3, b"\xff not json"))
    pipeline.persist_user_message("c2", "alice", "after", message_id="after")
    tamper(lambda cursor, table: set_state(cursor, table, "c2", 7, b"\xff not json"))
    read_side.catch_up()
    assert len(read_side.quarantined_events()) == 3  # c2's event, in each read model
    whole = read_side.verify()
    assert [(link.chat_id, link.version, link.problem) for link in whole.broken] == [
        ("c1", 3, "undecodable"), ("c2", 7, "undecodable")]  # fmt: skip
    assert whole.mismatches == []
    for chat in ("c1", "c2"):
        assert (read_side.verify(chat).intact, read_side.verify(chat).mismatches) == (False, [])
