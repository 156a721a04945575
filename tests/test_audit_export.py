"""`chatledger audit`: filters, formats, content only on request, event order."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from typer.testing import CliRunner

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.cli.main import app
from chatledger.projections.read_side import ReadSide
from chatledger.projections.views import AuditFilter
from tests.test_read_models import conversation

runner = CliRunner()
SECRET = "Write python code"  # alice's first message, in tests.test_read_models.conversation


def test_records_carry_recorded_fields_and_gen_ai_names_without_content(
    pipeline: PersistencePipeline, read_side: ReadSide
) -> None:
    conversation(pipeline)
    records = list(read_side.audit_records(AuditFilter(chat_id="c-a", message_id="a1")))
    assert [r["event_type"] for r in records] == ["AssistantMessageRecorded"]
    fields = records[0]["fields"]
    assert fields["gen_ai.request.model"] == "gpt-4o"
    assert (fields["gen_ai.usage.input_tokens"], fields["gen_ai.usage.output_tokens"]) == (20, 7)
    assert "content" not in fields
    assert records[0]["hash"] == vars(list(pipeline.events.get("c-a"))[2])["hash"]
    with_content = list(read_side.audit_records(AuditFilter(message_id="u1"), with_content=True))
    assert with_content[0]["fields"]["content"].startswith(SECRET)


def test_jsonl_and_csv_exports_stream_every_matching_event_in_order(
    pipeline: PersistencePipeline, database_url: str, tmp_path: Path
) -> None:
    conversation(pipeline)
    database = ["--database-url", database_url]
    jsonl = runner.invoke(app, ["audit", "--user", "alice", "--format", "jsonl", *database])
    assert jsonl.exit_code == 0, jsonl.output
    lines = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert [r["position"] for r in lines] == sorted(r["position"] for r in lines)
    assert {r["user_id"] for r in lines} == {"alice"}
    assert len(lines) == len(list(pipeline.events.get("c-a")))
    assert SECRET not in jsonl.stdout
    output = tmp_path / "audit.csv"
    export = ["audit", "--event-type", "StreamFailed", "--format", "csv", "--output", str(output)]
    exported = runner.invoke(app, [*export, "--with-content", *database])
    assert exported.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(output.read_text(encoding="utf-8"))))
    assert [row["message_id"] for row in rows] == ["s2", "s3"]
    assert json.loads(rows[0]["fields"])["content"] == "part"


def test_the_table_shows_the_first_events(pipeline: PersistencePipeline, database_url: str) -> None:
    conversation(pipeline)
    shown = runner.invoke(app, ["audit", "--chat", "c-b", "--database-url", database_url])
    assert shown.exit_code == 0
    assert "audit trail" in shown.stdout
