"""Signed checkpoints prove that nothing before them was modified, removed, reordered or
truncated since; verify without one cannot see a chat's last events removed."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.cli.main import app
from chatledger.infrastructure.read_store.sql_database import Cursor
from chatledger.infrastructure.security.checkpoints import (
    check_checkpoint,
    load_or_create_key,
    public_key_path,
    write_checkpoint,
)
from chatledger.projections.checkpoint import FORMAT_2, canonical, digest_log, signed_body
from chatledger.projections.merkle import legacy_merkle_root
from chatledger.projections.verification import ChainVerifier
from tests.tampering import Tamper, altered_content, chats, set_state, state_of


def checkpointed(pipeline: PersistencePipeline, tmp_path: Path) -> tuple[Path, Path]:
    chats(pipeline)
    key, document = tmp_path / "signing.key", tmp_path / "checkpoint.json"
    write_checkpoint(pipeline, key, document)
    return document, public_key_path(key)


def test_an_untouched_log_proves_against_its_checkpoint(
    pipeline: PersistencePipeline, tmp_path: Path
) -> None:
    document, public = checkpointed(pipeline, tmp_path)
    body = json.loads(document.read_text())
    assert (body["log_position"], body["events"], body["chats"]) == (12, 12, 2)
    assert (tmp_path / "signing.key").stat().st_mode & 0o777 == 0o600
    pipeline.persist_user_message("c1", "alice", "after the checkpoint", message_id="later")
    assert check_checkpoint(pipeline, document, public) == []


def test_removed_last_events_are_caught_only_with_a_checkpoint(
    pipeline: PersistencePipeline, tamper: Tamper, tmp_path: Path
) -> None:
    document, public = checkpointed(pipeline, tmp_path)
    tamper(lambda cursor, table: cursor.execute(
        f"DELETE FROM {table} WHERE originator_id = 'c2' AND originator_version > 4"))  # fmt: skip
    assert ChainVerifier(pipeline).verify().intact  # the chain just ends earlier
    findings = check_checkpoint(pipeline, document, public)
    assert "chat c2: truncated, ends at version 4 instead of 6" in findings
    assert any("events were removed or inserted" in finding for finding in findings)


def test_a_modified_event_and_a_removed_chat_are_named(
    pipeline: PersistencePipeline, tamper: Tamper, tmp_path: Path
) -> None:
    document, public = checkpointed(pipeline, tmp_path)

    def rewrite(cursor: Cursor, table: str) -> None:
        changed = altered_content(state_of(cursor, table, "c1", 6))
        set_state(cursor, table, "c1", 6, changed)
        cursor.execute(f"DELETE FROM {table} WHERE originator_id = 'c2'")

    tamper(rewrite)
    findings = check_checkpoint(pipeline, document, public)
    assert "chat c1: its event at version 6 differs from the checkpoint" in findings
    assert "chat c2: all its events up to version 6 are gone" in findings


def test_an_altered_checkpoint_or_a_foreign_key_does_not_verify(
    pipeline: PersistencePipeline, tmp_path: Path
) -> None:
    document, public = checkpointed(pipeline, tmp_path)
    forged = json.loads(document.read_text())
    forged["events"] = 11
    document.write_text(json.dumps(forged))
    assert check_checkpoint(pipeline, document, public) == [
        "the checkpoint's signature does not verify with this public key"
    ]
    other, _ = checkpointed_elsewhere(pipeline, tmp_path / "other")
    assert check_checkpoint(pipeline, other, public) == [
        "the checkpoint's signature does not verify with this public key"
    ]


def checkpointed_elsewhere(pipeline: PersistencePipeline, folder: Path) -> tuple[Path, Path]:
    folder.mkdir()
    key, document = folder / "k.key", folder / "c.json"
    write_checkpoint(pipeline, key, document)
    return document, public_key_path(key)


def test_verify_names_the_checkpoints_format_and_still_proves_against_a_format_2_one(
    pipeline: PersistencePipeline, database_url: str, tmp_path: Path
) -> None:
    document, public = checkpointed(pipeline, tmp_path)
    command = ["verify", "--database-url", database_url, "--public-key", str(public), "--json"]
    current = CliRunner().invoke(app, [*command, "--checkpoint", str(document)])
    assert current.exit_code == 0, current.output
    assert json.loads(current.stdout)["checkpoint_format"] == "format 3 (RFC 9162 tree)"
    key = load_or_create_key(tmp_path / "signing.key")
    body = signed_body(json.loads(document.read_text()))
    body |= {"format": FORMAT_2, "merkle_root": legacy_merkle_root(digest_log(pipeline).heads)}
    older = tmp_path / "checkpoint-older.json"
    heads = json.loads(document.read_text())["heads"]
    older.write_text(json.dumps(body | {"signature": key.sign(canonical(body)).hex(),
                                        "heads": heads}))  # fmt: skip
    answer = CliRunner().invoke(app, [*command, "--checkpoint", str(older)])
    assert answer.exit_code == 0, answer.output
    report = json.loads(answer.stdout)
    assert (report["checkpoint_format"], report["checkpoint_findings"]) == (
        "format 2 (pre-RFC 9162 tree)", [])  # fmt: skip
    text = CliRunner().invoke(app, [*command[:-1], "--checkpoint", str(older)])
    assert "checkpoint checkpoint-older.json (format 2 (pre-RFC 9162 tree))" in text.stdout


def test_a_public_key_that_cannot_be_had_is_its_own_failure_not_a_failed_signature(
    pipeline: PersistencePipeline, database_url: str, tmp_path: Path
) -> None:
    document, _ = checkpointed(pipeline, tmp_path)
    command = ["verify", "--database-url", database_url, "--checkpoint", str(document)]
    missing = tmp_path / "nowhere.pub"
    answer = CliRunner().invoke(app, [*command, "--public-key", str(missing), "--json"])
    assert answer.exit_code == 3
    assert json.loads(answer.stdout)["error"] == {
        "code": "PUBLIC_KEY_NOT_FOUND",
        "message": f"public key file not found: {missing}",
    }
    text = CliRunner().invoke(app, [*command, "--public-key", str(missing)])
    assert text.exit_code == 3
    assert "public key file not found" in text.stderr and "does not verify" not in text.output
    not_a_key = tmp_path / "not-a-key.pem"
    not_a_key.write_text("not a key\n")
    answer = CliRunner().invoke(app, [*command, "--public-key", str(not_a_key), "--json"])
    assert answer.exit_code == 3
    assert json.loads(answer.stdout)["error"]["code"] == "PUBLIC_KEY_INVALID"
