"""Personal metadata on both backends: sealed like content under the chat owner's key, read back
unsealed by every reader, bound to its message; events recorded before it existed still decode
and verify, and read-model tables created before it gain the column in place."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent

from chatledger.domain.chain import find_broken_link
from chatledger.domain.chat import Chat
from chatledger.domain.errors import ErrorCode
from chatledger.domain.personal_metadata import open_personal_metadata
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.domain.ports import UNREADABLE_CONTENT, content_binding, title_binding
from chatledger.infrastructure.read_store.sql_read_model import SqlReadModel
from chatledger.projections.read_side import ReadSide
from chatledger.projections.rows import MessageRow
from chatledger.projections.verification import ChainVerifier
from tests.conftest import PipelineFactory
from tests.read_model_oracle import actual_dumps, expected_dumps
from tests.tampering import Tamper, set_state, state_of

# Stored by commit 7cbd958 (before personal metadata), content in plaintext: a chat with a user
# and an assistant message, a completed, a failed and a reaped stream.
SAVED = Path(__file__).with_name("saved_events") / "before_personal_metadata.json"
PERSONAL = {"email": "alice@example.org", "address": {"street": "Hauptstraße 1", "zip": "10115"}}


def load_saved_events(pipeline: PersistencePipeline) -> str:
    saved = json.loads(SAVED.read_text("utf-8"))
    pipeline.recorder.insert_events(
        [StoredEvent(e["originator_id"], e["originator_version"], e["topic"],
                     e["state"].encode("utf-8")) for e in saved]
    )  # fmt: skip
    return str(saved[0]["originator_id"])


def rows(read_side: ReadSide, chat_id: str) -> dict[str, dict[str, Any]]:
    return {row["message_id"]: row for row in read_side.messages.messages(chat_id)}


def test_events_stored_before_personal_metadata_decode_and_verify(
    pipeline: PersistencePipeline, read_side: ReadSide
) -> None:
    chat = load_saved_events(pipeline)
    events = list(pipeline.events.get(chat))
    messages = [e for e in events if isinstance(e, Chat.MessageEvent)]
    assert len(messages) == 8
    for event in messages:
        assert "personal_metadata" not in vars(event)  # stored, and hashed, without it
        assert event.personal_metadata == ""  # type: ignore[attr-defined]
    assert find_broken_link(chat, events) is None
    assert ChainVerifier(pipeline).verify().intact

    # The chat goes on: new events link to the old chain head, and everything reads back.
    assert pipeline.persist_user_message(
        chat, "alice", "after", message_id="m9", personal_metadata=PERSONAL
    ).success
    assert ChainVerifier(pipeline).verify().intact
    read_side.catch_up()
    table = rows(read_side, chat)
    assert (table["m1"]["content"], table["m1"]["personal_metadata"]) == ("Hello from before", "{}")
    assert json.loads(table["m9"]["personal_metadata"]) == PERSONAL
    trail = read_side.audit_trail("alice", with_content=True).records
    assert [r["fields"]["personal_metadata"] for r in trail if r["message_id"] == "m1"] == [{}]
    assert actual_dumps(read_side) == expected_dumps(pipeline)


def test_personal_metadata_is_sealed_and_every_reader_unseals_it(
    pipeline: PersistencePipeline, read_side: ReadSide, chat: str
) -> None:
    assert pipeline.persist_user_message(
        chat, "alice", "hi", message_id="m1", metadata={"client": "web"}, personal_metadata=PERSONAL
    ).success
    opened = pipeline.open_stream(chat, "alice", message_id="s1", personal_metadata={"n": 1})
    assert opened.stream is not None
    assert pipeline.fail_stream(opened.stream, "E", personal_metadata={"phone": "+49 30 1"}).success
    event = list(pipeline.events.get(chat))[1]
    assert event.personal_metadata.startswith("aesgcm:v1:")  # type: ignore[attr-defined]
    assert "alice@example.org" not in str(vars(event))
    assert event.metadata == {"client": "web"}  # type: ignore[attr-defined]

    read_side.catch_up()
    table = rows(read_side, chat)
    assert json.loads(table["m1"]["personal_metadata"]) == PERSONAL
    assert json.loads(table["s1"]["personal_metadata"]) == {"phone": "+49 30 1"}
    replayed = read_side.replay_chat(chat, "alice").chat
    assert replayed is not None
    assert json.loads(replayed.messages[0]["personal_metadata"]) == PERSONAL
    with_content = read_side.audit_trail("alice", with_content=True).records
    assert with_content[1]["fields"]["personal_metadata"] == PERSONAL
    assert with_content[2]["fields"]["personal_metadata"] == {"n": 1}
    without = read_side.audit_trail("alice").records
    assert not any("personal_metadata" in r["fields"] for r in without)


def test_a_retry_compares_content_not_personal_metadata_as_for_metadata(
    pipeline: PersistencePipeline, read_side: ReadSide, chat: str
) -> None:
    """The duplicate check is the same as for metadata: a retry with the same id and content is
    the original, whatever its (personal) metadata; other content is a CONFLICT."""
    first = pipeline.persist_user_message(chat, "alice", "hi", message_id="m1",
                                          personal_metadata=PERSONAL)  # fmt: skip
    retry = pipeline.persist_user_message(chat, "alice", "hi", message_id="m1",
                                          personal_metadata={"other": 1})  # fmt: skip
    assert retry.success and retry.duplicate and retry.version == first.version
    changed = pipeline.persist_user_message(chat, "alice", "other", message_id="m1",
                                            personal_metadata=PERSONAL)  # fmt: skip
    assert changed.error is not None and changed.error.code is ErrorCode.CONFLICT
    read_side.catch_up()
    assert json.loads(rows(read_side, chat)["m1"]["personal_metadata"]) == PERSONAL


def test_sealed_text_of_another_binding_or_altered_does_not_open(
    pipeline: PersistencePipeline, read_side: ReadSide, chat: str, tamper: Tamper
) -> None:
    protector = pipeline.protector
    for binding in (content_binding(chat, "m1"), title_binding(chat)):
        sealed = protector.seal("alice", json.dumps(PERSONAL), binding)
        opened = open_personal_metadata(protector, "alice", chat, "m1", sealed)
        assert opened == UNREADABLE_CONTENT
    assert pipeline.persist_user_message(
        chat, "alice", "hi", message_id="m1", personal_metadata=PERSONAL
    ).success

    def alter(cursor: Any, table: str) -> None:
        state = state_of(cursor, table, chat, 2)
        start = state.index(b'"personal_metadata":"aesgcm:v1:') + len(b'"personal_metadata":"')
        end = state.index(b'"', start)
        flipped = b"B" if state[end - 2 : end - 1] == b"A" else b"A"
        set_state(cursor, table, chat, 2, state[: end - 2] + flipped + state[end - 1 :])

    tamper(alter)
    pipeline.forget(chat)
    report = ChainVerifier(pipeline).verify()
    assert not report.intact and report.broken[0].version == 2
    read_side.catch_up()
    assert rows(read_side, chat)["m1"]["personal_metadata"] == json.dumps(UNREADABLE_CONTENT)


def drop_column(read_side: ReadSide, generations: list[int]) -> None:
    """The `messages` tables as the version before personal metadata created them."""
    view = read_side.messages
    assert isinstance(view, SqlReadModel)
    with view.database.transaction() as cursor:
        cursor.execute("DROP VIEW messages")
        later = MessageRow._fields[MessageRow._fields.index("personal_metadata") :]
        for generation, column in itertools.product(generations, later):
            cursor.execute(f"ALTER TABLE messages_g{generation} DROP COLUMN {column}")
        cursor.execute(f"CREATE VIEW messages AS SELECT * FROM messages_g{generations[0]}")


def test_read_model_tables_from_before_gain_the_column(
    open_pipeline: PipelineFactory, open_read_side: Callable[..., ReadSide]
) -> None:
    """Decision: no rebuild needed. A process that opens the read models adds the column to the
    current and a building generation (rows from before read {}), and creates the view again
    (PostgreSQL expanded its `*` when it was created)."""
    pipeline = open_pipeline()
    chat = load_saved_events(pipeline)
    before = open_read_side(pipeline)
    before.catch_up()
    building = before.messages.start_generation()  # a rebuild interrupted midway
    drop_column(before, [before.messages.generations().current, building])
    before.close()

    assert pipeline.persist_user_message(
        chat, "alice", "after", message_id="m9", personal_metadata=PERSONAL
    ).success
    after = open_read_side(open_pipeline())
    after.catch_up()
    table = rows(after, chat)
    assert table["m1"]["personal_metadata"] == "{}"
    assert json.loads(table["m9"]["personal_metadata"]) == PERSONAL
    assert actual_dumps(after) == expected_dumps(pipeline)
    after.rebuild("messages")  # resumes the building generation, migrated too
    assert after.messages.generations().current == building
    assert actual_dumps(after) == expected_dumps(pipeline)
    again = open_read_side(open_pipeline())  # nothing left to add: opens as usual
    assert rows(again, chat)["m9"]["personal_metadata"] == table["m9"]["personal_metadata"]
