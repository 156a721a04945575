"""Events stored by an earlier release keep working: they decode, verify, replay, export and
build the read models, and their chat goes on.

tests/saved_events/before_roles.json was stored by commit a68df59 (before the `chatledger`
package, message roles beyond user and assistant, content parts and generation facts): topics
`domain.chat:...`, content sealed under alice's key (saved beside the events). One chat: a user
message with context, metadata and personal metadata (and a NUL), an assistant reply with usage
and intent, a failed empty reply, a completed and a failed stream, and a batch of two."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent

from chatledger.domain.chat import Chat
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.domain.ports import ERASED_CONTENT
from chatledger.infrastructure.read_store.read_models import read_model_database
from chatledger.infrastructure.settings import Settings
from chatledger.projections.read_side import ReadSide
from chatledger.projections.verification import ChainVerifier
from tests.read_model_oracle import actual_dumps, expected_dumps

SAVED = Path(__file__).with_name("saved_events") / "before_roles.json"
CHAT = "chat-before-roles"
CONTENTS = {
    "m1": "Why was I charged twice? 🧾\x00",
    "m2": "A refund is on its way.",
    "m3": "",
    "s1": "It arrives Monday.",
    "s2": "Par",
    "m4": "And the second charge?",
    "m5": "Refunded too.",
}


def load_saved(pipeline: PersistencePipeline, database_url: str, saved_file: Path = SAVED) -> None:
    saved = json.loads(saved_file.read_text("utf-8"))
    database = read_model_database(Settings(database_url=database_url))
    try:
        with database.transaction() as cursor:
            for key in saved["content_keys"]:
                cursor.execute(
                    "INSERT INTO content_keys (user_id, key_id, key_material, created_at, "
                    "erased_at) VALUES (?, ?, ?, ?, ?)",
                    tuple(key[c] for c in ("user_id", "key_id", "key_material", "created_at",
                                           "erased_at")),
                )  # fmt: skip
    finally:
        database.close()
    pipeline.recorder.insert_events(
        [StoredEvent(e["originator_id"], e["originator_version"], e["topic"],
                     e["state"].encode("utf-8")) for e in saved["events"]]
    )  # fmt: skip


def by_message(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["message_id"]: row for row in rows}


def test_events_of_the_release_before_roles_decode_verify_replay_and_go_on(
    pipeline: PersistencePipeline, read_side: ReadSide, database_url: str
) -> None:
    load_saved(pipeline, database_url)
    assert ChainVerifier(pipeline).verify().intact
    events = list(pipeline.events.get(CHAT))
    assert len(events) == 10
    messages = [e for e in events if isinstance(e, Chat.MessageEvent)]
    assert {pipeline.content_of(e) for e in messages} >= set(CONTENTS.values())  # exact, NUL too

    replayed = read_side.replay_chat(CHAT, "alice").chat
    assert replayed is not None
    shown = {k: v.replace("\x00", "\u2400") for k, v in CONTENTS.items()}  # read models: ␀
    assert {m["message_id"]: m["content"] for m in replayed.messages} == shown
    assert {m["message_id"]: m["role"] for m in replayed.messages} == {
        "m1": "user", "m2": "assistant", "m3": "assistant", "s1": "assistant",
        "s2": "assistant", "m4": "user", "m5": "assistant",
    }  # fmt: skip

    read_side.catch_up()
    table = by_message(read_side.messages.messages(CHAT))
    assert table["m2"]["model"] == "gpt-4o-mini"
    assert table["m3"]["error_code"] == "PROVIDER_TIMEOUT"
    assert json.loads(table["m1"]["personal_metadata"]) == {"email": "alice@example.org"}
    assert actual_dumps(read_side) == expected_dumps(pipeline)
    trail = read_side.audit_trail("alice", chat_id=CHAT, with_content=True).records
    assert [r["message_id"] for r in trail][1:3] == ["m1", "m2"]

    # The chat goes on: a new message links to the saved chain's head.
    assert pipeline.persist_user_message(CHAT, "alice", "after", message_id="m6").success
    assert ChainVerifier(pipeline).verify().intact


NAMED = Path(__file__).with_name("saved_events") / "before_sealed_names.json"
NAMED_CHAT = "chat-before-sealed-names"
# Stored by commit a50eff0, when participants' names were kept in plaintext: one message of
# every role with a name (the tool's is its function's), a tool call, content sealed.
NAMES = {"m1": "billing_setup", "m2": "dev-team", "m3": "Ann_Smith", "m4": "helper",
         "m5": "lookup_refund", "m6": "helper"}  # fmt: skip


def test_names_stored_in_plaintext_read_back_verify_and_are_hidden_once_erased(
    pipeline: PersistencePipeline, read_side: ReadSide, database_url: str
) -> None:
    load_saved(pipeline, database_url, NAMED)
    assert ChainVerifier(pipeline).verify().intact
    stored = [e for e in pipeline.events.get(NAMED_CHAT) if isinstance(e, Chat.MessageEvent)]
    assert {e.message_id: vars(e)["name"] for e in stored} == NAMES  # as they were stored

    replayed = read_side.replay_chat(NAMED_CHAT, "alice").chat
    assert replayed is not None
    assert {m["message_id"]: m["name"] for m in replayed.messages} == NAMES
    trail = read_side.audit_trail("alice", chat_id=NAMED_CHAT, with_content=True).records
    assert {r["message_id"]: r["fields"]["name"] for r in trail if r["message_id"]} == NAMES

    # The chat goes on: a new name is sealed, and the chain holds across old and new.
    assert pipeline.persist_user_message(NAMED_CHAT, "alice", "Thanks!", message_id="m7",
                                         name="Ann_Smith").success  # fmt: skip
    newest = list(pipeline.events.get(NAMED_CHAT))[-1]
    assert pipeline.protector.is_sealed(vars(newest)["name"])
    assert ChainVerifier(pipeline).verify().intact
    read_side.catch_up()
    rows = by_message(read_side.messages.messages(NAMED_CHAT))
    assert {m: row["name"] for m, row in rows.items()} == NAMES | {"m7": "Ann_Smith"}

    erased = read_side.erase_user("alice", reason="GDPR Art. 17", requested_by="dpo-1")
    assert erased.legacy_plaintext_events == len(NAMES)  # the log keeps their names' bytes
    rows = by_message(read_side.messages.messages(NAMED_CHAT))
    assert {row["name"] for row in rows.values()} == {ERASED_CONTENT}
    replayed = read_side.replay_chat(NAMED_CHAT, "alice").chat
    assert replayed is not None and {m["name"] for m in replayed.messages} == {ERASED_CONTENT}
    assert ChainVerifier(pipeline).verify().intact
