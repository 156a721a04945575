"""Erasure at the edges: during a concurrent ingest from another process, content stored before
encryption existed (legacy plaintext), sealed content moved or altered, snapshots, the CLI."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from chatledger.domain.chat import Chat
from chatledger.domain.errors import ErrorCode
from chatledger.domain.messages import CommandResult
from chatledger.domain.ports import (
    ERASED_CONTENT,
    UNREADABLE_CONTENT,
    PlaintextContent,
    content_binding,
)
from chatledger.infrastructure.bootstrap import bootstrap
from chatledger.infrastructure.cli.erasure import erase_and_scrub
from chatledger.infrastructure.cli.main import app
from chatledger.infrastructure.read_store.read_models import read_model_database
from chatledger.infrastructure.read_store.sql_database import SQLiteDatabase
from chatledger.infrastructure.security.content_encryption import KEY_TTL_S, AesGcmContent
from chatledger.infrastructure.security.content_keys import SqlKeyStore
from chatledger.infrastructure.settings import Settings
from chatledger.infrastructure.tokenizer.tiktoken_counter import TiktokenCounter
from chatledger.projections.read_side import ReadSide
from chatledger.projections.verification import ChainVerifier
from tests.conftest import PipelineFactory
from tests.read_model_oracle import actual_dumps, expected_dumps
from tests.stored_bytes import search, stored_bytes
from tests.test_group_commit import wait_until

ReadSideFactory = Callable[..., ReadSide]


class ManualClock:
    """A monotonic clock that moves only when told: a key cache's expiry without waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_erasure_during_a_concurrent_ingest_from_another_process(
    backend: str,
    database_url: str,
    open_pipeline: PipelineFactory,
    open_read_side: ReadSideFactory,
) -> None:
    """Messages sealed with the writer's cached key, before or after the key was destroyed, are
    recorded and unreadable; once that key expires (KEY_TTL_S), every further one is
    USER_ERASED. The writer's clock moves only when the test says."""
    clock = ManualClock()
    keys = SqlKeyStore(read_model_database(Settings(database_url=database_url)))
    writer = open_pipeline(protector=AesGcmContent(keys, clock=clock))
    eraser = open_pipeline()  # writer and eraser: as two processes
    token = uuid.uuid4().hex
    assert writer.start_chat("c", "alice").success
    results: list[CommandResult] = []
    stop = threading.Event()

    def ingest() -> None:
        for n in range(5000):
            if stop.is_set():
                return
            text = f"alice {token} line {n}"
            results.append(writer.persist_user_message("c", "alice", text, message_id=f"m{n}"))

    thread = threading.Thread(target=ingest)
    thread.start()
    try:
        wait_until(lambda: len(results) >= 20)
        erasure = eraser.erase_user("alice", reason="request", requested_by="dpo")
        erased_at = len(results)
        wait_until(lambda: len(results) >= erased_at + 20)  # under the cached, destroyed key
        advanced_at = len(results)
        clock.now += KEY_TTL_S + 1.0
        wait_until(lambda: sum(r.error is not None for r in results) >= 20)
    finally:
        stop.set()
        thread.join()
    assert erasure.success
    codes = Counter(r.error.code if r.error else "recorded" for r in results)
    assert set(codes) == {"recorded", ErrorCode.USER_ERASED}, codes
    refused_from = next(i for i, r in enumerate(results) if r.error)
    assert refused_from >= advanced_at  # recorded until the cached key expired
    assert all(r.error for r in results[refused_from:])  # never recorded again once refused

    for pipeline in (eraser, writer):  # the writer's cached key has expired too
        read_side = open_read_side(pipeline)
        read_side.catch_up()
        rows = read_side.messages.messages("c")
        assert len(rows) == codes["recorded"]
        assert {row["content"] for row in rows} == {ERASED_CONTENT}
    assert ChainVerifier(eraser).verify().intact
    assert search(stored_bytes(database_url, backend), [token]).hits == []


def test_plaintext_from_before_encryption_is_read_and_hidden_once_erased(
    backend: str,
    database_url: str,
    token_counter: TiktokenCounter,
    open_pipeline: PipelineFactory,
    open_read_side: ReadSideFactory,
) -> None:
    settings = Settings(database_url=database_url)
    before = bootstrap(settings, token_counter=token_counter,
                       protector=PlaintextContent())  # fmt: skip
    legacy = f"carol legacy {uuid.uuid4().hex}"
    assert before.start_chat("old", "carol").success
    assert before.persist_user_message("old", "carol", legacy, message_id="m1").success
    before.close()
    pipeline = open_pipeline()
    read_side = open_read_side(pipeline)
    sealed = f"carol sealed {uuid.uuid4().hex}"
    assert pipeline.persist_user_message("old", "carol", sealed, message_id="m2").success
    retry = pipeline.persist_user_message("old", "carol", legacy, message_id="m1")
    assert retry.duplicate
    read_side.catch_up()
    assert [r["content"] for r in read_side.messages.messages("old")] == [legacy, sealed]

    result, _ = erase_and_scrub(read_side, "carol", "request", "dpo")
    assert (result.content_events, result.legacy_plaintext_events) == (2, 1)
    assert "plaintext" in result.warnings[0]
    assert {r["content"] for r in read_side.messages.messages("old")} == {ERASED_CONTENT}
    read_side.rebuild("messages")
    assert actual_dumps(read_side)["messages"] == expected_dumps(pipeline)["messages"]
    # The documented limit: the append-only log keeps the bytes of what was never encrypted.
    assert search(stored_bytes(database_url, backend), [legacy, sealed]).hits == [legacy]


def test_sealed_content_opens_only_in_its_place(tmp_path: Path) -> None:
    protector = AesGcmContent(SqlKeyStore(SQLiteDatabase(str(tmp_path / "keys.sqlite"))))
    sealed = protector.seal("alice", "hello", content_binding("c1", "m1"))
    assert sealed.startswith("aesgcm:v1:") and protector.is_sealed(sealed)
    assert protector.unseal("alice", sealed, content_binding("c1", "m1")) == "hello"
    assert protector.unseal("alice", sealed, content_binding("c1", "m2")) == UNREADABLE_CONTENT
    altered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    assert protector.unseal("alice", altered, content_binding("c1", "m1")) == UNREADABLE_CONTENT
    assert protector.seal("alice", "", "c1\nm1") == ""
    assert protector.seal("alice", "hello", "c1\nm1") != sealed  # a fresh nonce every time
    protector.destroy("alice")
    assert protector.unseal("alice", sealed, content_binding("c1", "m1")) == ERASED_CONTENT
    other = AesGcmContent(SqlKeyStore(SQLiteDatabase(str(tmp_path / "keys.sqlite"))))
    assert other.unseal("alice", sealed, content_binding("c1", "m1")) == ERASED_CONTENT
    protector.close()
    other.close()


def test_chat_state_and_snapshots_hold_no_content(open_pipeline: PipelineFactory) -> None:
    pipeline = open_pipeline()
    secret = f"dave {uuid.uuid4().hex}"
    assert pipeline.start_chat("c", "dave").success
    assert pipeline.persist_user_message("c", "dave", secret).success
    chat: Chat = pipeline.repository.get("c")
    assert secret not in json.dumps(Chat.Snapshot.take(chat).state, default=str)


def test_erase_user_command(database_url: str, open_pipeline: PipelineFactory) -> None:
    pipeline = open_pipeline()
    assert pipeline.start_chat("c", "erin").success
    assert pipeline.persist_user_message("c", "erin", "hello").success
    runner = CliRunner()
    base = ["erase-user", "--reason", "ticket 7", "--requested-by", "dpo",
            "--database-url", database_url, "--json"]  # fmt: skip
    first = runner.invoke(app, [*base, "erin"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["outcome"] == "erased"
    again = runner.invoke(app, [*base, "erin"])
    assert again.exit_code == 0 and json.loads(again.stdout)["outcome"] == "already_erased"
    unknown = runner.invoke(app, [*base, "nobody"])
    assert unknown.exit_code == 1
    assert json.loads(unknown.stdout)["error"]["code"] == "USER_NOT_FOUND"
    assert runner.invoke(app, [*base, "not an id"]).exit_code == 2
    assert runner.invoke(app, ["erase-user", "erin", "--database-url", database_url]).exit_code == 2


def test_dropped_tables_are_zeroed_unless_they_hold_no_content(tmp_path: Path) -> None:
    """SQLite: a dropped table that holds content is zeroed (secure_delete=ON); one that holds
    none (statistics, audit index) is freed as it is, and the connection stays ON after."""
    path = tmp_path / "drops.sqlite"
    database = SQLiteDatabase(str(path))
    marker = uuid.uuid4().hex
    try:
        for name, zero_pages in (("content_table", True), ("content_free_table", False)):
            with database.transaction() as cursor:
                cursor.execute(f"CREATE TABLE {name} (text TEXT)")
                cursor.executemany(f"INSERT INTO {name} VALUES (?)",
                                   [(f"{name} {marker} {n}",) for n in range(500)])  # fmt: skip
            with database.transaction() as cursor:
                database.drop_table(cursor, name, zero_pages=zero_pages)
                cursor.execute("PRAGMA secure_delete")
                assert cursor.fetchone()[0] == 1
        assert database.release_freed_pages()
    finally:
        database.close()
    stored = path.read_bytes()
    assert f"content_table {marker}".encode() not in stored
    assert f"content_free_table {marker}".encode() in stored  # the search sees what is left
