"""Replay at every version (or time) of a chat equals the state the pipeline had then."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from typer.testing import CliRunner

from chatledger.domain.chat import Chat
from chatledger.domain.errors import ErrorCode
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.cli.main import app
from chatledger.projections.read_side import ReadSide


def without_position(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "position"} for row in rows]


def test_replay_at_every_version_equals_the_state_at_that_version(
    pipeline: PersistencePipeline, read_side: ReadSide
) -> None:
    pipeline.start_chat("c", "alice", title="Support", model="gpt-4o")
    seen: dict[int, tuple[list[dict[str, Any]], list[str]]] = {}

    def remember() -> None:
        read_side.catch_up()
        chat: Chat = pipeline.repository.get("c")
        seen[chat.version] = (
            without_position(read_side.messages.messages("c")),
            sorted(chat.open_streams),
        )

    remember()
    pipeline.persist_user_message("c", "alice", "Explain SQL joins", message_id="u1")
    remember()
    opened = pipeline.open_stream("c", "alice", message_id="s1", temperature=0.2)
    remember()
    assert opened.stream is not None
    opened.stream.add_chunk("A join ")
    pipeline.complete_stream(opened.stream, usage={"output_tokens": 3})
    remember()
    pipeline.persist_assistant_message("c", "alice", "", message_id="a1", error_code="TIMEOUT")
    remember()
    pipeline.open_stream("c", "alice", message_id="s2")
    remember()
    pipeline.reap_abandoned_streams(older_than=timedelta(0))
    remember()
    assert sorted(seen) == list(range(1, 8))
    for version, (messages, open_streams) in seen.items():
        result = read_side.replay_chat("c", "alice", to_version=version)
        assert result.chat is not None, result.error
        assert result.chat.version == version
        assert result.chat.messages == messages
        assert sorted(result.chat.open_streams) == open_streams
        assert result.chat.chain_intact
        assert [e.version for e in result.chat.timeline] == list(range(1, version + 1))
        at = result.chat.as_of
        assert read_side.replay_chat("c", "alice", at=at).chat == result.chat
    timeline = read_side.replay_chat("c", "alice").chat
    assert timeline is not None
    assert timeline.timeline[3].changed == "stream s1 completed (1 chunks)"
    assert timeline.timeline[-1].changed.startswith("stream s2 abandoned")


def test_replay_is_refused_to_others_and_before_the_chat_began(
    pipeline: PersistencePipeline, read_side: ReadSide
) -> None:
    pipeline.start_chat("c", "alice")
    other = read_side.replay_chat("c", "mallory")
    assert other.error is not None
    assert other.error.code == ErrorCode.UNAUTHORIZED
    too_early = read_side.replay_chat("c", "alice", at="2000-01-01T00:00:00+00:00")
    assert too_early.error is not None
    assert too_early.error.code == ErrorCode.VALIDATION_ERROR
    naive = read_side.replay_chat("c", "alice", at="2030-01-01T00:00:00")
    assert naive.error is not None
    assert naive.error.code == ErrorCode.VALIDATION_ERROR  # a time without a zone is ambiguous


def test_the_replay_command_shows_messages_and_events(
    pipeline: PersistencePipeline, database_url: str
) -> None:
    pipeline.start_chat("c", "alice")
    mine = {"email": "alice@example.org"}
    pipeline.persist_user_message("c", "alice", "hello", message_id="u1", personal_metadata=mine)
    runner = CliRunner()
    shown = runner.invoke(app, ["replay", "c", "--events", "--database-url", database_url])
    assert shown.exit_code == 0, shown.output
    assert "events" in shown.stdout
    document = runner.invoke(
        app, ["replay", "c", "--events", "--database-url", database_url, "--json"]
    )
    timeline = json.loads(document.stdout)["chat"]["timeline"]
    assert timeline[1]["changed"] == "user message u1 recorded (1 tokens, o200k_base)"
    (message,) = json.loads(document.stdout)["chat"]["messages"]
    assert json.loads(message["personal_metadata"]) == mine  # unsealed with the key in the db
    missing = runner.invoke(app, ["replay", "nope", "--database-url", database_url])
    assert missing.exit_code == 1
