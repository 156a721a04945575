"""One unreadable event does not blind the read side: each read model quarantines it (where,
which chat, why), skips it and goes on; every other chat answers as before, the damaged chat
answers what can be read and says it is damaged, writes to it are refused with CHAT_DAMAGED,
and once the event is restored a rebuild applies it. Both backends, several kinds of damage."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from chatledger.domain.errors import ErrorCode
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.bootstrap import bootstrap
from chatledger.infrastructure.read_store.rebuild_worker import ChangesInAnotherProcess
from chatledger.infrastructure.read_store.sql_database import Cursor
from chatledger.infrastructure.settings import Settings
from chatledger.projections.read_side import ReadSide
from chatledger.projections.views import AuditFilter
from tests.http_server import Api
from tests.read_model_oracle import actual_dumps, expected_dumps
from tests.tampering import Tamper, chats, set_state, state_of, tamperer

Corruption = Callable[[Cursor, str, str], None]  # (cursor, event table, backend)
WHERE = "originator_id = 'c1' AND originator_version = 3"


def flip_bytes(cursor: Cursor, table: str, backend: str) -> None:
    state = state_of(cursor, table, "c1", 3)
    set_state(cursor, table, "c1", 3, b"\xff\xfe" + state[2:])


def truncate_json(cursor: Cursor, table: str, backend: str) -> None:
    state = state_of(cursor, table, "c1", 3)
    set_state(cursor, table, "c1", 3, state[: len(state) // 2])


def unknown_topic(cursor: Cursor, table: str, backend: str) -> None:
    cursor.execute(f"UPDATE {table} SET topic = 'chatledger.domain.chat:Chat.Vanished' "
                   f"WHERE {WHERE}")  # fmt: skip


def other_event_type(cursor: Cursor, table: str, backend: str) -> None:
    """A message event relabelled as the chat's start: it decodes, but cannot be applied."""
    cursor.execute(f"UPDATE {table} SET topic = 'chatledger.domain.chat:Chat.Started' "
                   f"WHERE {WHERE}")  # fmt: skip


def bytes_as_text(cursor: Cursor, table: str, backend: str) -> None:
    """The stored state turned from bytes into text, as a careless UPDATE ... replace() does
    (SQLite keeps the value's type per row; PostgreSQL's bytea column has only bytes)."""
    if backend != "sqlite":
        pytest.skip("a bytea column holds no text")
    cursor.execute(f"UPDATE {table} SET state = CAST(state AS TEXT) WHERE {WHERE}")


CORRUPTIONS = [flip_bytes, truncate_json, unknown_topic, other_event_type, bytes_as_text]


@pytest.fixture(params=CORRUPTIONS, ids=lambda corruption: corruption.__name__)
def corruption(request: pytest.FixtureRequest) -> Corruption:
    corrupt: Corruption = request.param
    return corrupt


def damage_c1(tamper: Tamper, backend: str, corrupt: Corruption) -> None:
    tamper(lambda cursor, table: corrupt(cursor, table, backend))


def test_the_event_is_quarantined_and_every_other_answer_goes_on(
    pipeline: PersistencePipeline,
    read_side: ReadSide,
    tamper: Tamper,
    backend: str,
    corruption: Corruption,
) -> None:
    chats(pipeline)  # c1 and c2 of alice: started, then five messages each
    damage_c1(tamper, backend, corruption)
    read_side.catch_up()

    assert [(s.lag, s.quarantined) for s in read_side.status()] == [(0, 1)] * 3
    skipped = read_side.quarantined_events()
    assert {(e.projection, e.chat_id, e.version) for e in skipped} == {
        (name, "c1", 3) for name in ("messages", "stats", "audit")
    }
    assert all(e.reason for e in skipped)
    # The read models hold what every other event says, exactly.
    assert actual_dumps(read_side) == expected_dumps(pipeline)

    intact = read_side.get_message_persistence_stats("alice", "c2")
    assert intact.stats is not None and intact.stats.messages == 5
    assert intact.damaged_chats == [] and intact.warnings == []
    damaged = read_side.get_message_persistence_stats("alice", "c1")
    assert damaged.stats is not None and damaged.stats.messages == 4
    assert [(c.chat_id, [e.version for e in c.events]) for c in damaged.damaged_chats] == [
        ("c1", [3])
    ]
    assert "c1" in damaged.warnings[0]
    users = read_side.get_message_persistence_stats("alice")
    assert users.stats is not None and users.stats.messages == 9
    assert [chat.chat_id for chat in users.damaged_chats] == ["c1"]

    listed = read_side.list_chats("alice")
    assert {c["chat_id"]: c["damaged"] for c in listed.chats} == {"c1": True, "c2": False}
    messages = read_side.list_messages("c1", "alice")
    assert len(messages.messages) == 4 and messages.damaged_chats[0].chat_id == "c1"
    trail = read_side.audit_trail("alice")
    assert len(trail.records) == 11 and trail.damaged_chats[0].chat_id == "c1"


def test_replay_stops_before_the_damage_and_writes_to_the_chat_are_refused(
    open_pipeline: Callable[..., PersistencePipeline],
    pipeline: PersistencePipeline,
    read_side: ReadSide,
    tamper: Tamper,
    backend: str,
    corruption: Corruption,
) -> None:
    chats(pipeline)
    damage_c1(tamper, backend, corruption)
    restarted = open_pipeline()  # nothing of the chat in its cache: it reads the store

    replay = read_side.replay_chat("c1", "alice")
    assert replay.success, replay.error
    assert replay.chat is not None and replay.chat.version == 2
    assert replay.chat.damaged is not None and replay.chat.damaged.events[0].version == 3

    refused = restarted.persist_user_message("c1", "alice", "one more", message_id="late")
    assert refused.error is not None and refused.error.code is ErrorCode.CHAT_DAMAGED
    assert refused.error.details["version"] == 3
    stranger = restarted.persist_user_message("c1", "mallory", "hi", message_id="m-x")
    assert stranger.error is not None and stranger.error.code is ErrorCode.UNAUTHORIZED
    assert restarted.persist_user_message("c2", "alice", "still fine", message_id="ok").success


def test_a_restored_event_is_applied_by_a_rebuild(
    pipeline: PersistencePipeline,
    read_side: ReadSide,
    tamper: Tamper,
    backend: str,
    corruption: Corruption,
) -> None:
    chats(pipeline)
    original: list[tuple[bytes, str]] = []

    def keep(cursor: Cursor, table: str) -> None:
        cursor.execute(f"SELECT state, topic FROM {table} WHERE {WHERE}")
        state, topic = cursor.fetchone()
        original.append((bytes(state), topic))

    tamper(keep)
    damage_c1(tamper, backend, corruption)
    read_side.catch_up()
    assert read_side.get_message_persistence_stats("alice", "c1").damaged_chats

    def restore(cursor: Cursor, table: str) -> None:
        state, topic = original[0]
        cursor.execute(f"UPDATE {table} SET state = ?, topic = ? WHERE {WHERE}", (state, topic))

    tamper(restore)
    for name in read_side.runners:
        read_side.rebuild(name)

    assert read_side.quarantined_events() == []
    assert [s.quarantined for s in read_side.status()] == [0, 0, 0]
    assert actual_dumps(read_side) == expected_dumps(pipeline)
    assert read_side.get_message_persistence_stats("alice", "c1").damaged_chats == []


def test_an_event_damaged_after_it_was_indexed_keeps_its_audit_record(
    pipeline: PersistencePipeline, read_side: ReadSide, tamper: Tamper, backend: str
) -> None:
    chats(pipeline)
    read_side.catch_up()
    damage_c1(tamper, backend, truncate_json)

    records = list(read_side.audit_records(AuditFilter(chat_id="c1"), with_content=True))
    assert [r["version"] for r in records] == [1, 2, 3, 4, 5, 6]
    broken = records[2]
    assert broken["fields"] is None and "MapperDeserialisationError" in broken["damaged"]
    assert all(r["fields"] is not None for r in records if r is not broken)


def test_a_rebuild_in_worker_processes_quarantines_alike(
    database_url: str,
    pipeline: PersistencePipeline,
    open_read_side: Callable[..., ReadSide],
    tamper: Tamper,
    backend: str,
) -> None:
    chats(pipeline)
    damage_c1(tamper, backend, flip_bytes)
    maker = ChangesInAnotherProcess(
        Settings(database_url=database_url), bootstrap, min_events=0, start_method="spawn"
    )
    read_side = open_read_side(pipeline, change_maker=maker, batch_size=4)
    for name in read_side.runners:
        read_side.rebuild(name)
    assert {(e.projection, e.chat_id, e.version) for e in read_side.quarantined_events()} == {
        (name, "c1", 3) for name in ("messages", "stats", "audit")
    }
    assert actual_dumps(read_side) == expected_dumps(pipeline)


def test_over_http_the_damaged_chat_is_flagged_and_the_others_answer(api: Api) -> None:
    owner = f"q-{uuid.uuid4().hex[:6]}"
    with api.client(user_id=owner) as client:
        for chat_id in (f"{owner}-a", f"{owner}-b"):
            assert client.post("/v1/chats", json={"chat_id": chat_id}).status_code == 201
            for n in range(3):
                body = {"content": f"hello {n}", "message_id": f"{chat_id}-{n}"}
                assert client.post(f"/v1/chats/{chat_id}/messages/user", json=body).is_success
        backend = "sqlite" if api.database_url.startswith("sqlite") else "postgres"
        tamperer(api.services.read_side, backend)(
            lambda cursor, table: cursor.execute(
                f"UPDATE {table} SET topic = 'chatledger.domain.chat:Chat.Vanished' "
                f"WHERE originator_id = ? AND originator_version = 3", (f"{owner}-a",)
            )
        )  # fmt: skip
        for name in api.services.read_side.runners:  # they had applied it: start again
            api.services.read_side.rebuild(name)
        api.settled()

        ready = api.anonymous().get("/readyz").json()
        assert all(p["quarantined"] >= 1 for p in ready["projections"])
        damaged = client.get(f"/v1/chats/{owner}-a/stats")
        assert damaged.status_code == 200
        assert damaged.json()["damaged_chats"][0]["events"][0]["version"] == 3
        intact = client.get(f"/v1/chats/{owner}-b/stats").json()
        assert intact["stats"]["messages"] == 3 and intact["damaged_chats"] == []
        replay = client.get(f"/v1/chats/{owner}-a/replay").json()
        assert replay["chat"]["version"] == 2 and replay["chat"]["damaged"]["chat_id"]
        trail = client.get("/v1/audit")
        assert trail.status_code == 200 and trail.headers["X-Damaged-Chats"] == f"{owner}-a"
        assert (
            "X-Damaged-Chats"
            not in client.get("/v1/audit", params={"chat_id": f"{owner}-b"}).headers
        )
        listed = client.get(f"/v1/users/{owner}/chats").json()
        assert {c["chat_id"]: c["damaged"] for c in listed["chats"]} == {
            f"{owner}-a": True, f"{owner}-b": False
        }  # fmt: skip
