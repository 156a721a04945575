"""`chatledger ingest --workers N`: several processes record one file, each line once, each chat
in one process and in order; a dead worker is named, and a rerun records the rest."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chatledger.domain.chat import Chat
from chatledger.infrastructure.cli.main import app
from chatledger.infrastructure.ingest.conversations import (
    Conversation,
    UnreadableLine,
    generate_conversations,
)
from chatledger.infrastructure.ingest.ingestor import Ingestor, IngestTotals
from chatledger.infrastructure.ingest.processes import (
    IngestJob,
    WorkersFailedError,
    ingest_in_processes,
)
from chatledger.infrastructure.settings import Settings
from chatledger.projections.verification import ChainVerifier
from tests.conftest import PipelineFactory

runner = CliRunner()


def conversations_file(path: Path, count: int) -> tuple[Path, list[Conversation]]:
    conversations = generate_conversations(count)
    lines = [c.model_dump_json() for c in conversations]
    lines.insert(4, "{not json")  # line 5
    lines.append('{"conversation_id": "bad id with spaces", "messages": []}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, conversations


def ingest(file: Path, database_url: str, workers: int) -> tuple[int, dict[str, object]]:
    args = ["ingest", str(file), "--database-url", database_url, "--json", "--workers"]
    result = runner.invoke(app, [*args, str(workers)])
    return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1])


def test_workers_record_every_line_once_and_each_chat_in_order(
    tmp_path: Path, database_url: str, open_pipeline: PipelineFactory
) -> None:
    file, conversations = conversations_file(tmp_path / "conversations.jsonl", 12)
    code, first = ingest(file, database_url, workers=3)
    assert code == 1  # an unreadable line and a refused conversation
    assert (first["conversations"], first["recorded"], first["failed"]) == (13, 48, 1)
    assert first["unreadable_lines"] == [5]
    assert first["error_codes"] == {"VALIDATION_ERROR": 1}
    code, again = ingest(file, database_url, workers=2)
    assert (again["recorded"], again["duplicates"], again["unreadable_lines"]) == (0, 48, [5])

    pipeline = open_pipeline()
    for conversation in conversations:
        events = list(pipeline.events.get(conversation.conversation_id))[1:]
        assert [e.message_id for e in events] == [  # type: ignore[attr-defined]
            f"{conversation.conversation_id}:{turn}" for turn in range(len(events))
        ]
        assert all(isinstance(e, Chat.UserMessageRecorded | Chat.AssistantMessageRecorded)
                   for e in events)  # fmt: skip
        assert len(events) == len(conversation.messages)
    assert ChainVerifier(pipeline).verify().intact


def test_a_worker_that_dies_is_named_and_a_rerun_records_the_rest(
    tmp_path: Path,
    database_url: str,
    open_pipeline: PipelineFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conversations = generate_conversations(10)
    lines = Ingestor.lines

    def second_worker_dies(
        self: Ingestor, items: Iterable[Conversation | UnreadableLine]
    ) -> Iterator[IngestTotals]:
        mine = list(items)
        if mine[0].conversation_id == conversations[1].conversation_id:  # type: ignore[union-attr]
            yield from lines(self, mine[:2])
            os._exit(9)  # as a process killed mid-way: no report, no clean-up
        yield from lines(self, mine)

    # fork, so that the workers run the patched Ingestor.lines below.
    job = IngestJob(Settings(database_url=database_url, log_level="warning"), conversations,
                    "ingest", workers=2, start_method="fork")  # fmt: skip
    with monkeypatch.context() as patch:
        patch.setattr(Ingestor, "lines", second_worker_dies)  # the workers are forked
        totals = IngestTotals()
        with pytest.raises(WorkersFailedError) as failed:
            for _ in ingest_in_processes(job, totals):
                pass
    assert failed.value.problems == ["worker 2 of 2 stopped (exit code 9)"]
    assert not failed.value.database_unusable
    assert (totals.conversations, totals.recorded) == (7, 28)  # 5 of worker 1, 2 of worker 2

    rerun = IngestTotals()
    for _ in ingest_in_processes(job, rerun):
        pass
    assert (rerun.recorded, rerun.duplicates, rerun.failed) == (12, 28, 0)
    pipeline = open_pipeline()
    for conversation in conversations:
        assert len(list(pipeline.events.get(conversation.conversation_id))) == 5
    assert ChainVerifier(pipeline).verify().intact


def test_workers_that_cannot_open_the_database_exit_3(tmp_path: Path) -> None:
    file, _ = conversations_file(tmp_path / "conversations.jsonl", 2)
    url = f"sqlite:///{tmp_path}/no/such/directory/ledger.sqlite"
    result = runner.invoke(app, ["ingest", str(file), "--database-url", url, "--workers", "2"])
    assert result.exit_code == 3
    assert "cannot open the database" in result.stderr
