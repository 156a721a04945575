"""Right to erasure by crypto-shredding, on both backends: after erasing a user no byte of the
user's content is left in the database (SQLite file and WAL, or a pg_dump), other users read
back, the chains verify, and statistics and the audit trail still answer for the erased user."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

from structlog.testing import capture_logs

from chatledger.domain.errors import ErrorCode
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.domain.ports import ERASED_CONTENT
from chatledger.infrastructure.cli.erasure import erase_and_scrub
from chatledger.infrastructure.read_store.sql_read_model import SqlReadModel
from chatledger.projections.read_side import ReadSide
from chatledger.projections.verification import ChainVerifier
from tests.read_model_oracle import actual_dumps, expected_dumps
from tests.stored_bytes import search, stored_bytes


def personal_values(user: str, token: str) -> list[str]:
    """Values a backend marks personal (in personal_metadata), one per way of recording."""
    return [f"{user}.{token}.pm{n}@example.org Straße 秘 {n}" for n in range(9)]


def record_conversations(pipeline: PersistencePipeline, user: str, token: str) -> list[str]:
    """Every way content and personal metadata are recorded, for one user; returns the texts
    of the messages (the personal values are personal_values(user, token))."""
    texts = [f"{user} {token} says #{n}: Grüße, 秘密 {n}" for n in range(8)]
    personal = [
        {"email": value, "nested": {"n": [value]}} for value in personal_values(user, token)
    ]
    chat = f"{user}-chat"
    assert pipeline.start_chat(chat, user, title=f"Support {token}", model="gpt-4o").success
    assert pipeline.persist_user_message(
        chat, user, texts[0], message_id="u1", personal_metadata=personal[0]
    ).success
    assert pipeline.persist_assistant_message(
        chat, user, texts[1], message_id="a1", usage={"input_tokens": 9, "output_tokens": 4},
        personal_metadata=personal[1],
    ).success  # fmt: skip
    opened = pipeline.open_stream(chat, user, message_id="s1", personal_metadata=personal[2])
    assert opened.stream is not None
    opened.stream.add_chunk(texts[2])
    assert pipeline.complete_stream(opened.stream, personal_metadata=personal[3]).success
    failing = pipeline.open_stream(chat, user, message_id="s2")
    assert failing.stream is not None
    failing.stream.add_chunk(texts[3])
    assert pipeline.fail_stream(
        failing.stream, "PROVIDER_ERROR", personal_metadata=personal[4]
    ).success
    batch = [{"role": "user", "content": texts[4], "message_id": "b1",
              "personal_metadata": personal[5]},
             {"role": "assistant", "content": texts[5], "message_id": "b2",
              "personal_metadata": personal[6]}]  # fmt: skip
    assert pipeline.persist_messages(chat, user, batch).success
    imported = {"chat_id": f"{user}-old", "messages": [
        {"role": "user", "content": texts[6], "message_id": "i1",
         "personal_metadata": personal[7]},
        {"role": "assistant", "content": texts[7], "message_id": "i2",
         "personal_metadata": personal[8]}]}  # fmt: skip
    assert pipeline.import_chats(user, [imported]).success
    return texts


def key_material(read_side: ReadSide, user: str) -> str:
    view = read_side.messages
    assert isinstance(view, SqlReadModel)
    with view.database.transaction(write=False) as cursor:
        cursor.execute("SELECT key_material FROM content_keys WHERE user_id = ?", (user,))
        return str(cursor.fetchone()[0])


def contents(read_side: ReadSide, chat_id: str) -> list[str | None]:
    return [row["content"] for row in read_side.messages.messages(chat_id)]


def personal_metadata(read_side: ReadSide, chat_id: str) -> list[object]:
    """Each row's personal metadata as JSON values (the column holds JSON text)."""
    return [json.loads(row["personal_metadata"]) for row in read_side.messages.messages(chat_id)]


def values_in(documents: list[object]) -> set[str]:
    return {d["email"] for d in documents if isinstance(d, dict) and "email" in d}


def test_no_byte_of_an_erased_users_content_is_left(
    backend: str, database_url: str, pipeline: PersistencePipeline, read_side: ReadSide
) -> None:
    token, other = uuid.uuid4().hex, uuid.uuid4().hex
    with capture_logs() as logs:
        alice = record_conversations(pipeline, "alice", token)
        bob = record_conversations(pipeline, "bob", other)
        alice_personal, bob_personal = (
            personal_values("alice", token),
            personal_values("bob", other),
        )
        read_side.catch_up()
        read_side.rebuild("messages")  # plaintext copied into read models, a generation dropped
        assert contents(read_side, "alice-chat")[0] == alice[0]
        opened = personal_metadata(read_side, "alice-chat") + personal_metadata(
            read_side, "alice-old"
        )
        assert values_in(opened) == set(alice_personal) - {alice_personal[2]}  # s1: the end's
        key = key_material(read_side, "alice")
        before = read_side.get_message_persistence_stats("alice").stats
        result, released = erase_and_scrub(read_side, "alice", "GDPR Art. 17, ticket 42", "dpo-1")
    assert result.success and result.outcome == "erased" and released, result
    assert (result.chats, result.content_events, result.legacy_plaintext_events) == (2, 10, 0)

    stored = stored_bytes(database_url, backend)
    found = search(stored, [*alice, *alice_personal, token, key])
    print(f"\nbyte search {backend}: {found.scanned} bytes, {found.texts} texts, {found.hits}")
    assert found.hits == []
    # The search does find text that is there (Bob's opening s1 was replaced by its end's).
    assert search(stored, bob).hits == bob
    assert search(stored, bob_personal).hits == [v for v in bob_personal if v != bob_personal[2]]
    assert not any(text in str(logs) for text in [*alice, *bob, *alice_personal, *bob_personal])

    assert set(contents(read_side, "alice-chat")) == {ERASED_CONTENT}
    assert set(contents(read_side, "alice-old")) == {ERASED_CONTENT}
    alice_rows = personal_metadata(read_side, "alice-chat") + personal_metadata(
        read_side, "alice-old"
    )
    assert set(map(json.dumps, alice_rows)) == {json.dumps(ERASED_CONTENT)}
    assert contents(read_side, "bob-chat")[0] == bob[0]
    bob_rows = personal_metadata(read_side, "bob-chat") + personal_metadata(read_side, "bob-old")
    assert values_in(bob_rows) == set(bob_personal) - {bob_personal[2]}
    after = read_side.get_message_persistence_stats("alice").stats
    assert after is not None and before is not None
    assert after.model_dump() == before.model_dump()
    assert after.messages == 8 and after.tokens_provider_input == 9
    replayed = read_side.replay_chat("alice-chat", "alice").chat
    assert replayed is not None
    assert {m["content"] for m in replayed.messages} == {ERASED_CONTENT}
    assert {m["personal_metadata"] for m in replayed.messages} == {json.dumps(ERASED_CONTENT)}
    trail = read_side.audit_trail("alice", with_content=True).records
    assert trail[-1]["event_type"] == "Erased"
    assert trail[-1]["fields"]["requested_by"] == "dpo-1"
    assert {r["fields"].get("content") for r in trail} <= {None, ERASED_CONTENT}
    assert {json.dumps(r["fields"].get("personal_metadata")) for r in trail} <= {
        "null", "{}", json.dumps(ERASED_CONTENT)}  # fmt: skip
    assert bob_personal[2] in str(read_side.audit_trail("bob", with_content=True).records)
    assert ChainVerifier(pipeline).verify().intact
    for name in ("messages", "stats", "audit"):
        read_side.rebuild(name)
    assert actual_dumps(read_side) == expected_dumps(pipeline)


def test_erasing_twice_unknown_users_and_bad_requests(
    pipeline: PersistencePipeline, chat: str, read_side: ReadSide
) -> None:
    assert pipeline.persist_user_message(chat, "alice", "hello").success
    first = pipeline.erase_user("alice", reason="request 1", requested_by="dpo")
    second = pipeline.erase_user("alice", reason="request 2", requested_by="dpo-2")
    assert first.success and first.outcome == "erased" and not first.duplicate
    assert second.success and second.duplicate and second.outcome == "already_erased"
    assert (second.erased_at, second.requested_by) == (first.erased_at, "dpo")
    assert "already erased" in second.warnings[0]
    unknown = pipeline.erase_user("nobody", reason="request 3", requested_by="dpo")
    assert unknown.error is not None and unknown.error.code is ErrorCode.USER_NOT_FOUND
    for bad in ({"user_id": "not an id"}, {"reason": ""}, {"requested_by": "a b"}):
        fields = {"user_id": "alice", "reason": "r", "requested_by": "dpo"} | bad
        refused = pipeline.erase_user(**fields)
        assert refused.error is not None and refused.error.code is ErrorCode.VALIDATION_ERROR
    erasures = [r for r in read_side.audit_trail("alice").records if r["event_type"] == "Erased"]
    assert len(erasures) == 1
    assert read_side.audit_trail("nobody").records == []


def test_nothing_more_is_recorded_for_an_erased_user(
    pipeline: PersistencePipeline, chat: str
) -> None:
    opened = pipeline.open_stream(chat, "alice", message_id="s1")
    assert opened.stream is not None
    opened.stream.add_chunk("partial")
    assert pipeline.erase_user("alice", reason="r", requested_by="dpo").success
    item = {"role": "user", "content": "x"}
    attempts: list[Callable[[], object]] = [
        lambda: pipeline.persist_user_message(chat, "alice", "more"),
        lambda: pipeline.persist_assistant_message(chat, "alice", "more"),
        lambda: pipeline.open_stream(chat, "alice"),
        lambda: pipeline.complete_stream(opened.stream),  # type: ignore[arg-type]
        lambda: pipeline.fail_stream(opened.stream, "X"),  # type: ignore[arg-type]
        lambda: pipeline.start_chat("chat-2", "alice"),
        lambda: pipeline.persist_messages(chat, "alice", [item]),
        lambda: pipeline.import_chats("alice", [{"chat_id": "c9", "messages": [item]}]),
    ]
    for attempt in attempts:
        result = attempt()
        assert getattr(result, "error").code is ErrorCode.USER_ERASED  # noqa: B009
    from datetime import timedelta

    reaped = pipeline.reap_abandoned_streams(timedelta(0))
    assert reaped.reaped == [{"chat_id": chat, "message_id": "s1"}]
    assert pipeline.start_chat("chat-b", "bob").success
    assert pipeline.persist_user_message("chat-b", "bob", "still here").success


def test_titles_are_sealed_and_read_back(
    pipeline: PersistencePipeline, read_side: ReadSide
) -> None:
    assert pipeline.start_chat("c", "alice", title="My landlord dispute").success
    assert pipeline.persist_user_message("c", "alice", "hello").success
    started = next(iter(pipeline.events.get("c")))
    assert started.title.startswith("aesgcm:v1:")  # type: ignore[attr-defined]
    replayed = read_side.replay_chat("c", "alice").chat
    assert replayed is not None and replayed.title == "My landlord dispute"
    trail = read_side.audit_trail("alice", with_content=True).records
    assert trail[0]["fields"]["title"] == "My landlord dispute"
    assert "title" not in read_side.audit_trail("alice").records[0]["fields"]  # a sealed field
    read_side.erase_user("alice", reason="request", requested_by="dpo")
    replayed = read_side.replay_chat("c", "alice").chat
    assert replayed is not None and replayed.title == ERASED_CONTENT


def test_the_erasure_logs_who_asked_but_never_why(pipeline: PersistencePipeline, chat: str) -> None:
    assert pipeline.persist_user_message(chat, "alice", "hello").success
    with capture_logs() as logs:
        pipeline.erase_user("alice", reason="Sensitive grounds 4711", requested_by="dpo-9")
    (entry,) = [e for e in logs if e["event"] == "erase_user"]
    assert (entry["user_id"], entry["requested_by"], entry["outcome"]) == (
        "alice",
        "dpo-9",
        "recorded",
    )
    assert "Sensitive grounds" not in str(logs)
