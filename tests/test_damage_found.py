"""Damage is reported at once: an event damaged after its chat was cached and indexed makes the
next write to the chat fail with CHAT_DAMAGED in the process that cached it (a cached chat is no
proof of what the store holds), and once found, by that write, by a read of the chat or by
verify, every answer over many chats names it, without a restart or a rebuild. Both backends."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest
from structlog.testing import capture_logs
from typer.testing import CliRunner

from chatledger.domain.errors import ErrorCode
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.domain.ports import RowDigests
from chatledger.infrastructure.cli.main import app
from chatledger.infrastructure.read_store.sql_database import Cursor
from chatledger.projections.read_side import ReadSide
from tests.http_server import Api
from tests.tampering import Tamper, chats, set_state, state_of, tamperer
from tests.test_quarantine import CORRUPTIONS, Corruption, damage_c1, flip_bytes

WHERE = "originator_id = ? AND originator_version = 3"


@pytest.fixture(params=CORRUPTIONS, ids=lambda corruption: corruption.__name__)
def damage(request: pytest.FixtureRequest) -> Corruption:
    corrupt: Corruption = request.param
    return corrupt


def damaged_in_answers(read_side: ReadSide) -> dict[str, object]:
    """What the answers over all of alice's chats say of damage."""
    stats = read_side.get_message_persistence_stats("alice")
    listed = read_side.list_chats("alice")
    trail = read_side.audit_trail("alice")
    return {
        "stats": [chat.chat_id for chat in stats.damaged_chats],
        "listed": {chat["chat_id"]: chat["damaged"] for chat in listed.chats},
        "trail": [chat.chat_id for chat in trail.damaged_chats],
        "status": [status.quarantined for status in read_side.status()],
    }


FOUND = {"stats": ["c1"], "listed": {"c1": True, "c2": False}, "trail": ["c1"], "status": [1] * 3}


def test_a_write_to_a_cached_chat_is_refused_once_an_indexed_event_is_damaged(
    pipeline: PersistencePipeline,
    read_side: ReadSide,
    tamper: Tamper,
    backend: str,
    damage: Corruption,
    database_url: str,
) -> None:
    chats(pipeline)  # c1 and c2 of alice, both cached by this pipeline
    read_side.catch_up()  # and indexed by every read model
    damage_c1(tamper, backend, damage)
    assert damaged_in_answers(read_side)["stats"] == []  # nobody has read the event since

    refused = pipeline.persist_user_message("c1", "alice", "one more", message_id="late")
    assert refused.error is not None and refused.error.code is ErrorCode.CHAT_DAMAGED
    assert refused.error.details["version"] == 3
    again = pipeline.persist_user_message("c1", "alice", "one more", message_id="late")
    assert again.error is not None and again.error.code is ErrorCode.CHAT_DAMAGED
    assert pipeline.persist_user_message("c2", "alice", "still fine", message_id="ok").success

    assert damaged_in_answers(read_side) == FOUND
    status = CliRunner().invoke(app, ["status", "--database-url", database_url, "--json"])
    assert status.exit_code == 0, status.output
    listed = {(p["name"], e["chat_id"], e["version"])
              for p in json.loads(status.stdout) for e in p["quarantined_events"]}  # fmt: skip
    assert listed == {(name, "c1", 3) for name in ("messages", "stats", "audit")}


def test_a_read_of_the_chat_finds_the_damage_for_every_other_answer(
    pipeline: PersistencePipeline, read_side: ReadSide, tamper: Tamper, backend: str
) -> None:
    chats(pipeline)
    read_side.catch_up()
    damage_c1(tamper, backend, flip_bytes)
    messages = read_side.list_messages("c1", "alice")
    assert [chat.chat_id for chat in messages.damaged_chats] == ["c1"]
    assert damaged_in_answers(read_side) == FOUND


def test_verify_finds_the_damage_for_every_other_answer(
    pipeline: PersistencePipeline, read_side: ReadSide, tamper: Tamper, backend: str
) -> None:
    chats(pipeline)
    read_side.catch_up()
    damage_c1(tamper, backend, flip_bytes)
    verified = read_side.verify()
    assert not verified.intact and verified.broken[0].problem == "undecodable"
    assert damaged_in_answers(read_side) == FOUND


def test_a_restored_event_lets_the_chat_take_writes_again(
    pipeline: PersistencePipeline, read_side: ReadSide, tamper: Tamper, backend: str
) -> None:
    chats(pipeline)
    original: list[bytes] = []
    tamper(lambda cursor, table: original.append(state_of(cursor, table, "c1", 3)))
    damage_c1(tamper, backend, flip_bytes)
    refused = pipeline.persist_user_message("c1", "alice", "one more", message_id="late")
    assert refused.error is not None and refused.error.code is ErrorCode.CHAT_DAMAGED
    tamper(lambda cursor, table: set_state(cursor, table, "c1", 3, original[0]))
    assert pipeline.persist_user_message("c1", "alice", "one more", message_id="late").success


def test_a_chat_another_process_appended_to_is_loaded_again_not_retried(
    open_pipeline: Callable[..., PersistencePipeline],
) -> None:
    """The digests tell that the cached chat is behind the store before it decides, so the
    append succeeds at its first attempt (a stale chat would conflict, and be retried)."""
    mine, other = open_pipeline(), open_pipeline()
    assert mine.start_chat("c1", "alice").success  # cached by `mine`
    assert other.persist_user_message("c1", "alice", "from elsewhere", message_id="m1").success
    with capture_logs() as logs:
        result = mine.persist_user_message("c1", "alice", "from here", message_id="m2")
    assert result.success and result.version == 3
    assert [line["attempts"] for line in logs if line["event"] == "persist_user_message"] == [1]


def test_the_stores_digests_are_those_of_the_stored_rows(
    pipeline: PersistencePipeline, tamper: Tamper, backend: str
) -> None:
    """The fast path (PostgreSQL hashes in SQL, SQLite reads two columns) against the store's
    digest of each row as eventsourcing reads it, which is what rows just recorded get."""
    chats(pipeline)
    recorder = pipeline.recorder
    assert isinstance(recorder, RowDigests)

    def computed() -> list[tuple[int, object]]:
        rows = recorder.select_events("c1", gt=1)
        return [(row.originator_version, recorder.row_digest(row.topic, row.state))
                for row in rows]  # fmt: skip

    stored = recorder.row_digests("c1", 1)
    assert stored == computed() and [version for version, _ in stored] == [2, 3, 4, 5, 6]
    damage_c1(tamper, backend, flip_bytes)
    changed = recorder.row_digests("c1", 1)
    assert changed == computed() and changed[1] != stored[1] and changed[2:] == stored[2:]


def test_over_http_a_write_is_refused_and_every_answer_names_the_damage(api: Api) -> None:
    owner = f"d-{uuid.uuid4().hex[:6]}"
    damaged, intact = f"{owner}-a", f"{owner}-b"
    with api.client(user_id=owner) as client:
        for chat_id in (damaged, intact):
            assert client.post("/v1/chats", json={"chat_id": chat_id}).status_code == 201
            for n in range(3):
                body = {"content": f"hello {n}", "message_id": f"{chat_id}-{n}"}
                assert client.post(f"/v1/chats/{chat_id}/messages/user", json=body).is_success
        api.settled()  # indexed, and cached by the server
        backend = "sqlite" if api.database_url.startswith("sqlite") else "postgres"

        def corrupt(cursor: Cursor, table: str) -> None:
            state = state_of(cursor, table, damaged, 3)
            cursor.execute(f"UPDATE {table} SET state = ? WHERE {WHERE}",
                           (b"\xff\xfe" + state[2:], damaged))  # fmt: skip

        tamperer(api.services.read_side, backend)(corrupt)

        refused = client.post(f"/v1/chats/{damaged}/messages/user", json={"content": "more"})
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "CHAT_DAMAGED"
        stats = client.get("/v1/stats").json()
        assert [chat["chat_id"] for chat in stats["damaged_chats"]] == [damaged]
        listed = client.get(f"/v1/users/{owner}/chats").json()
        assert {c["chat_id"]: c["damaged"] for c in listed["chats"]} == {
            damaged: True, intact: False
        }  # fmt: skip
        assert client.get("/v1/audit").headers["X-Damaged-Chats"] == damaged
        ready = api.anonymous().get("/readyz").json()
        assert all(p["quarantined"] >= 1 for p in ready["projections"])
