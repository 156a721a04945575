"""Verify names what was done to the stored events and where; an intact log verifies."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.cli.main import app
from chatledger.infrastructure.read_store.sql_database import Cursor
from chatledger.projections.verification import ChainVerifier
from tests.tampering import Tamper, altered_content, chats, set_state, state_of


def test_an_intact_log_verifies(pipeline: PersistencePipeline) -> None:
    chats(pipeline)
    report = ChainVerifier(pipeline).verify()
    assert report.intact
    assert (report.events, report.chats) == (12, 2)
    assert ChainVerifier(pipeline).verify("c2").intact


def test_changed_bytes_are_named_with_chat_and_version(
    pipeline: PersistencePipeline, tamper: Tamper
) -> None:
    chats(pipeline)

    def change_content(cursor: Cursor, table: str) -> None:
        set_state(cursor, table, "c1", 3, altered_content(state_of(cursor, table, "c1", 3)))

    tamper(change_content)
    report = ChainVerifier(pipeline).verify()
    assert [(b.chat_id, b.version, b.problem) for b in report.broken] == [
        ("c1", 3, "hash_mismatch")
    ]
    assert report.broken[0].expected != report.broken[0].found


def test_a_deleted_event_in_the_middle_is_a_gap(
    pipeline: PersistencePipeline, tamper: Tamper
) -> None:
    chats(pipeline)
    tamper(lambda cursor, table: cursor.execute(
        f"DELETE FROM {table} WHERE originator_id = 'c2' AND originator_version = 4"))  # fmt: skip
    report = ChainVerifier(pipeline).verify()
    assert [(b.chat_id, b.version, b.problem, b.found) for b in report.broken] == [
        ("c2", 4, "version_gap", "5")
    ]


def test_swapped_events_break_the_chain_where_they_were_swapped(
    pipeline: PersistencePipeline, tamper: Tamper
) -> None:
    chats(pipeline)

    def swap(cursor: Cursor, table: str) -> None:
        third, fourth = state_of(cursor, table, "c1", 3), state_of(cursor, table, "c1", 4)
        set_state(cursor, table, "c1", 3, fourth)
        set_state(cursor, table, "c1", 4, third)

    tamper(swap)
    report = ChainVerifier(pipeline).verify()
    assert [(b.chat_id, b.version) for b in report.broken] == [("c1", 3)]
    assert report.broken[0].problem in ("prev_hash_mismatch", "hash_mismatch")


def test_garbage_bytes_are_undecodable_not_a_crash(
    pipeline: PersistencePipeline, tamper: Tamper
) -> None:
    chats(pipeline)
    tamper(lambda cursor, table: set_state(cursor, table, "c2", 2, b"\xff not json"))
    report = ChainVerifier(pipeline).verify()
    assert [(b.chat_id, b.version, b.problem) for b in report.broken] == [("c2", 2, "undecodable")]


def test_the_command_exits_1_and_names_the_break(
    pipeline: PersistencePipeline, tamper: Tamper, database_url: str, tmp_path: Path
) -> None:
    chats(pipeline)
    runner = CliRunner()
    intact = runner.invoke(app, ["verify", "--database-url", database_url, "--json"])
    assert intact.exit_code == 0
    assert json.loads(intact.stdout)["intact"] is True
    tamper(lambda cursor, table: cursor.execute(
        f"DELETE FROM {table} WHERE originator_id = 'c1' AND originator_version = 2"))  # fmt: skip
    broken = runner.invoke(app, ["verify", "--database-url", database_url])
    assert broken.exit_code == 1
    assert "version_gap" in broken.stdout
    assert "c1" in broken.stdout
