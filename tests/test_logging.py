"""One structured log event per command, with ids and outcome, never content or secrets."""

from __future__ import annotations

import io
import json

import structlog
from structlog.testing import capture_logs

from domain.pipeline import PersistencePipeline
from infrastructure.settings import Settings, describe_database
from infrastructure.structured_logging import configure_logging, drop_sensitive_fields

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
    assert recorded["processing_ms"] > 0
    assert recorded["gen_ai.usage.tokens"] > 0
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
