"""`chatledger audit`: filters, formats, content only on request, event order; one vocabulary of
event types and one CSV layout for the CLI, the HTTP API and the console."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from typer.testing import CliRunner, Result

from chatledger.domain.event_types import EVENT_TYPES
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.cli.main import app
from chatledger.infrastructure.security.api_keys import Role
from chatledger.projections.audit_export import CSV_COLUMNS
from chatledger.projections.read_side import ReadSide
from chatledger.projections.views import AuditFilter
from tests.http_server import Api
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
    assert json.loads(rows[0]["other_fields"])["content"] == "part"


def test_the_table_shows_the_first_events(pipeline: PersistencePipeline, database_url: str) -> None:
    conversation(pipeline)
    shown = runner.invoke(app, ["audit", "--chat", "c-b", "--database-url", database_url])
    assert shown.exit_code == 0
    assert "audit trail" in shown.stdout


def audited(database_url: str, *arguments: str) -> Result:
    return runner.invoke(app, ["audit", "--database-url", database_url, *arguments],
                         env={"COLUMNS": "300"})  # fmt: skip


def test_an_event_type_is_named_in_either_form_and_any_case(
    pipeline: PersistencePipeline, database_url: str
) -> None:
    conversation(pipeline)
    found = []
    for name in ("StreamFailed", "Chat.StreamFailed", "streamfailed", "CHAT.STREAMFAILED"):
        shown = audited(database_url, "--event-type", name, "--format", "jsonl")
        assert shown.exit_code == 0, shown.output
        found.append([json.loads(line)["message_id"] for line in shown.stdout.splitlines()])
    assert found == [["s2", "s3"]] * 4
    erased = audited(database_url, "--event-type", "DataSubject.Erased", "--format", "jsonl")
    assert erased.exit_code == 0 and erased.stdout == ""


def test_an_unknown_event_type_is_a_usage_error_that_lists_the_types(database_url: str) -> None:
    types = ", ".join(EVENT_TYPES)
    assert types.startswith("Started, SystemMessageRecorded, DeveloperMessageRecorded")
    shown = audited(database_url, "--event-type", "Bogus")
    assert shown.exit_code == 2
    assert f"Invalid value for '--event-type': unknown event type; the types are {types}" in (
        shown.stderr)  # fmt: skip
    assert all(name in audited(database_url, "--help").stdout for name in EVENT_TYPES)


def test_json_prints_the_tables_records_as_the_python_api_pages_them(
    pipeline: PersistencePipeline, database_url: str
) -> None:
    conversation(pipeline)
    shown = audited(database_url, "--user", "alice", "--limit", "3", "--json")
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    assert document["success"] is True and document["error"] is None
    records = document["records"]
    assert [r["event_type"] for r in records] == ["Started", "UserMessageRecorded",
                                                  "AssistantMessageRecorded"]  # fmt: skip
    assert document["next_position"] == records[-1]["position"]
    assert document["damaged_chats"] == [] and "content" not in records[1]["fields"]
    everything = json.loads(audited(database_url, "--chat", "c-b", "--json").stdout)
    assert len(everything["records"]) == 2 and everything["next_position"] is None
    assert audited(database_url, "--json", "--format", "csv").exit_code == 2


def csv_rows(text: str) -> dict[str, dict[str, str]]:
    """The rows of a CSV export by chat, event type and message id, its header checked."""
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == list(CSV_COLUMNS)
    return {f"{row['chat_id']}:{row['event_type']}:{row['message_id']}": row for row in reader}


def test_csv_has_a_column_for_each_common_field_and_the_rest_as_json(
    pipeline: PersistencePipeline, database_url: str, tmp_path: Path
) -> None:
    conversation(pipeline)
    pipeline.persist_assistant_message("c-b", "bob", "Hi", message_id="b2", model="gpt-4",
                                       finish_reasons=["stop", "length"])  # fmt: skip
    output = tmp_path / "audit.csv"
    assert audited(database_url, "--format", "csv", "--output", str(output)).exit_code == 0
    rows = csv_rows(output.read_text(encoding="utf-8"))
    answer = rows["c-a:AssistantMessageRecorded:a1"]
    columns = ("role", "model", "token_encoding", "input_tokens", "output_tokens", "status")
    assert [answer[c] for c in columns] == ["assistant", "gpt-4o", "o200k_base", "20", "7",
                                            "recorded"]  # fmt: skip
    assert int(answer["token_count"]) > 0 and answer["error_code"] == ""
    assert rows["c-a:AssistantMessageRecorded:a2"]["error_code"] == "RATE_LIMITED"
    assert rows["c-b:AssistantMessageRecorded:b2"]["finish_reasons"] == "stop,length"
    ends = {key: (row["status"], row["error_code"]) for key, row in rows.items()
            if key.startswith("c-a:Stream")}  # fmt: skip
    assert ends == {"c-a:StreamOpened:s1": ("streaming", ""),
                    "c-a:StreamCompleted:s1": ("completed", ""),
                    "c-a:StreamOpened:s2": ("streaming", ""),
                    "c-a:StreamFailed:s2": ("failed", "PROVIDER_DOWN"),
                    "c-a:StreamOpened:s3": ("streaming", ""),
                    "c-a:StreamFailed:s3": ("abandoned", "STREAM_ABANDONED"),
                    "c-a:StreamOpened:s4": ("streaming", "")}  # fmt: skip
    started = rows["c-a:Started:"]
    assert (started["role"], started["model"], started["status"]) == ("", "gpt-4o", "")
    others = json.loads(answer["other_fields"])
    assert others["temperature"] == 0.5 and others["usage"] == {"source": "provider"}
    assert others["tokens"] == {"exact_model": True}
    assert not {"role", "model", "status", "error_code"} & set(others)
    assert not [name for name in others if name.startswith("gen_ai.")]


def test_the_http_api_and_the_console_read_event_types_and_write_csv_alike(api: Api) -> None:
    chat = "audit-http-1"
    with api.client() as client:
        assert client.post("/v1/chats", json={"chat_id": chat}).status_code == 201
        client.post(f"/v1/chats/{chat}/messages/user", json={"content": "hi"})
        asked = {"chat_id": chat, "event_type": "chat.usermessagerecorded", "format": "csv"}
        rows = csv_rows(client.get("/v1/audit", params=asked).text)
        assert [row["role"] for row in rows.values()] == ["user"]
        bogus = client.get("/v1/audit", params={"event_type": "Bogus"})
        assert bogus.status_code == 422
        assert bogus.json()["error"]["message"] == (
            f"query.event_type.0: unknown event type; the types are {', '.join(EVENT_TYPES)}"
        )
    with api.client(Role.auditor) as auditor:
        found = auditor.get(
            "/console/search",
            params={"chat_id": chat, "role": "user", "event_type": "CHAT.USERMESSAGERECORDED"},
        )
        assert found.status_code == 200 and found.text.count('class="chat-link"') == 1
        refused = auditor.get("/console/search", params={"event_type": "Bogus"})
        assert refused.status_code == 422 and "unknown event type; the types are" in refused.text
        exported = auditor.get("/console/search/export", params={"chat_id": chat, "format": "csv"})
        assert [row["event_type"] for row in csv_rows(exported.text).values()] == [
            "Started", "UserMessageRecorded"]  # fmt: skip
