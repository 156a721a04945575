"""One structured log event per command, with ids and outcome, never content or secrets."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import structlog
from structlog.testing import capture_logs

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.cli.main import app
from chatledger.infrastructure.observability.structured_logging import (
    configure_logging,
    drop_sensitive_fields,
)
from chatledger.infrastructure.settings import Settings, describe_database
from chatledger.projections.read_side import ReadSide
from tests.conftest import PipelineFactory
from tests.test_store_failures import table_locked_by_another_writer

SECRET_CONTENT = "my password is hunter2 and my key is sk-live-PLANTED0123456789"


def test_each_command_logs_ids_outcome_and_timing_without_content(
    pipeline: PersistencePipeline, chat: str
) -> None:
    with capture_logs() as logs:
        planted = {"api_key": "sk-live-PLANTED0123456789"}
        pipeline.persist_user_message(
            chat, "alice", SECRET_CONTENT, message_id="m-1", metadata=planted
        )
        pipeline.persist_user_message(chat, "mallory", SECRET_CONTENT, message_id="m-2")
        pipeline.persist_user_message(chat, "alice", "\ud800" + SECRET_CONTENT, message_id="m-3")
    recorded, unauthorized, invalid = logs
    assert recorded["event"] == "persist_user_message"
    assert recorded["outcome"] == "recorded"
    assert (recorded["chat_id"], recorded["user_id"], recorded["message_id"]) == (
        chat,
        "alice",
        "m-1",
    )
    assert 0 < recorded["store_ms"] < recorded["processing_ms"]
    assert "store_ms" not in unauthorized  # rejected before anything was saved
    assert recorded["token_count"] > 0 and "gen_ai.usage.tokens" not in recorded
    assert (unauthorized["outcome"], unauthorized["error_code"]) == ("rejected", "UNAUTHORIZED")
    assert (invalid["error_code"], invalid["message_id"]) == ("VALIDATION_ERROR", "m-3")
    everything = json.dumps(logs)
    assert "hunter2" not in everything
    assert "PLANTED" not in everything


def test_json_lines_carry_no_secrets_even_when_passed() -> None:
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    try:
        structlog.get_logger("test").info(
            "connect", content=SECRET_CONTENT, password="hunter2", url="postgresql://u:hunter2@h/db"
        )
    finally:
        structlog.reset_defaults()
    line = json.loads(stream.getvalue())
    assert line["content"] == "[redacted]"
    assert line["password"] == "[redacted]"
    assert "hunter2" not in stream.getvalue()
    assert line["url"] == "postgresql://u:***@h/db"


def test_database_description_hides_the_password() -> None:
    settings = Settings(database_url="postgresql://app:s3cret@db.internal:5432/ledger")
    assert describe_database(settings) == "postgresql://app:***@db.internal:5432/ledger"
    assert "s3cret" not in repr(settings)


def test_redaction_processor_is_a_plain_callable() -> None:
    event = drop_sensitive_fields(None, "info", {"event": "x", "Authorization": "Bearer abc"})
    assert event["Authorization"] == "[redacted]"


# Not ids (spaces): ids are logged by design; free text never is.
PLANTED = (
    "PLANTED CONTENT 9f3e",
    "sk-live-PLANTED-KEY-77aa",
    "PLANTED TITLE c4d1",
    "planted.personal@example.org",
)


def test_no_command_logs_content_keys_or_titles_on_any_path(
    open_pipeline: PipelineFactory, open_read_side: Callable[..., ReadSide], database_url: str
) -> None:
    """Every command, on its success, rejection and failure paths, with secrets planted in
    every free-text field: the log lines carry ids and codes, never the planted text."""
    pipeline = open_pipeline(lock_timeout_s=1)
    read_side = open_read_side(pipeline)
    content, key, title, personal = PLANTED
    secret_meta = {"api_key": key, "note": content}
    mine = {"email": personal, "note": content}
    with capture_logs() as logs:
        pipeline.start_chat("c-log", "alice", title=title, model="gpt-4o")
        pipeline.start_chat("c-log", "mallory", title=title)  # CONFLICT
        pipeline.persist_user_message(
            "c-log", "alice", content, metadata=secret_meta, personal_metadata=mine
        )
        not_text_keys: dict[Any, str] = {1: personal}  # VALIDATION_ERROR
        pipeline.persist_user_message("c-log", "alice", content, personal_metadata=not_text_keys)
        pipeline.persist_user_message("c-log", "alice", content, message_id=content)  # invalid id
        pipeline.persist_user_message("c-log", "mallory", content)  # UNAUTHORIZED
        pipeline.persist_user_message("nowhere", "alice", content)  # CHAT_NOT_FOUND
        pipeline.persist_user_message("c-log", "alice", {"x": content})  # type: ignore[arg-type]
        pipeline.persist_assistant_message(
            "c-log", "alice", content, error_code="E", error_message=content,
            metadata=secret_meta, usage={"input_tokens": 1, "api_key": key},
            personal_metadata=mine,
        )  # fmt: skip
        opened = pipeline.open_stream(
            "c-log", "alice", metadata=secret_meta, personal_metadata=mine
        )
        assert opened.stream is not None
        opened.stream.add_chunk(content)
        pipeline.complete_stream(opened.stream, metadata=secret_meta, personal_metadata=mine)
        pipeline.complete_stream(opened.stream, content + "changed")  # CONFLICT
        failing = pipeline.open_stream("c-log", "alice").stream
        assert failing is not None
        pipeline.fail_stream(failing, "E", content, metadata=secret_meta, personal_metadata=mine)
        pipeline.count_prompt_tokens([{"role": "user", "content": content}])
        pipeline.count_prompt_tokens([{"role": content, "content": content}])
        with table_locked_by_another_writer(database_url):
            pipeline.persist_user_message("c-log", "alice", content)  # PERSISTENCE_ERROR
        read_side.catch_up()
        read_side.get_message_persistence_stats("alice", "c-log")
        read_side.audit_trail("alice", with_content=True)
        read_side.audit_trail(content)
        read_side.replay_chat("c-log", "alice")
        pipeline.reap_abandoned_streams(older_than=timedelta(0))
    outcomes = {entry.get("error_code") for entry in logs}
    assert {"CONFLICT", "UNAUTHORIZED", "CHAT_NOT_FOUND", "VALIDATION_ERROR",
            "PERSISTENCE_ERROR"} <= outcomes  # fmt: skip
    everything = json.dumps(logs, default=str)
    for planted in PLANTED:
        assert planted not in everything, [e for e in logs if planted in json.dumps(e, default=str)]


def test_cli_tracebacks_show_no_local_variables() -> None:
    """typer printed locals in tracebacks by default before 0.16 (pyproject allows 0.12): a
    crash would have shown database URLs with their passwords, and message content."""
    assert app.pretty_exceptions_show_locals is False
