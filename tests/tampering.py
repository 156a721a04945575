"""Direct tampering with stored events, around the append-only triggers, for verify's tests."""

from __future__ import annotations

from collections.abc import Callable

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.read_store.sql_database import Cursor
from chatledger.infrastructure.read_store.sql_read_model import SqlReadModel
from chatledger.projections.read_side import ReadSide

EVENT_TABLE = {"sqlite": "stored_events", "postgres": "chatledger_events"}


def chats(pipeline: PersistencePipeline) -> None:
    for chat in ("c1", "c2"):
        pipeline.start_chat(chat, "alice")
        for index in range(5):
            pipeline.persist_user_message(chat, "alice", f"hello {index}", message_id=f"m{index}")


Tamper = Callable[[Callable[[Cursor, str], None]], None]


def tamperer(read_side: ReadSide, backend: str) -> Tamper:
    """Run raw SQL on the event table with its append-only triggers out of the way, as an
    attacker with the database owner's rights could."""
    view = read_side.messages
    assert isinstance(view, SqlReadModel)
    table = EVENT_TABLE[backend]

    def run(change: Callable[[Cursor, str], None]) -> None:
        with view.database.transaction() as cursor:
            if backend == "sqlite":
                cursor.execute("DROP TRIGGER IF EXISTS stored_events_refuse_update")
                cursor.execute("DROP TRIGGER IF EXISTS stored_events_refuse_delete")
            else:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            change(cursor, table)

    return run


def state_of(cursor: Cursor, table: str, chat: str, version: int) -> bytes:
    cursor.execute(
        f"SELECT state FROM {table} WHERE originator_id = ? AND originator_version = ?",
        (chat, version),
    )
    return bytes(cursor.fetchone()[0])


def set_state(cursor: Cursor, table: str, chat: str, version: int, state: bytes) -> None:
    where = "originator_id = ? AND originator_version = ?"
    cursor.execute(f"UPDATE {table} SET state = ? WHERE {where}", (state, chat, version))


def altered_content(state: bytes) -> bytes:
    """The stored event with one character of its sealed content changed (content is stored
    encrypted, so an attacker can only alter the ciphertext)."""
    start = state.index(b'"content":"aesgcm:v1:')
    end = state.index(b'"', start + len(b'"content":"'))
    flipped = b"B" if state[end - 2 : end - 1] == b"A" else b"A"
    return state[: end - 2] + flipped + state[end - 1 :]
