"""The chatledger command line: demo and ingest, on both backends, idempotent, scriptable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chatledger.domain.chat import Chat
from chatledger.infrastructure.cli.main import app
from chatledger.infrastructure.ingest.conversations import default_data_file, generate_conversations
from tests.conftest import PipelineFactory

runner = CliRunner()


def write_jsonl(path: Path, count: int) -> Path:
    lines = [c.model_dump_json() for c in generate_conversations(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def ingest(file: Path, database_url: str) -> tuple[int, dict[str, object]]:
    result = runner.invoke(app, ["ingest", str(file), "--database-url", database_url, "--json"])
    return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1])


def test_ingest_twice_records_once(tmp_path: Path, database_url: str) -> None:
    file = write_jsonl(tmp_path / "conversations.jsonl", 5)
    code, first = ingest(file, database_url)
    assert code == 0
    assert (first["recorded"], first["duplicates"], first["failed"]) == (20, 0, 0)
    code, second = ingest(file, database_url)
    assert code == 0
    assert (second["recorded"], second["duplicates"]) == (0, 20)


def test_unreadable_lines_are_reported_and_fail_the_exit_code(
    tmp_path: Path, database_url: str
) -> None:
    file = write_jsonl(tmp_path / "conversations.jsonl", 2)
    with file.open("a", encoding="utf-8") as out:
        out.write("{not json\n")
        out.write('{"conversation_id": "bad id with spaces", "messages": []}\n')
    code, totals = ingest(file, database_url)
    assert code == 1
    assert totals["unreadable_lines"] == [3]
    assert totals["error_codes"] == {"VALIDATION_ERROR": 1}
    assert totals["recorded"] == 8


def test_demo_streams_replies_and_checks_chains(tmp_path: Path, database_url: str) -> None:
    data = write_jsonl(tmp_path / "demo.jsonl", 3)
    args = ["demo", "--conversations", "3", "--data", str(data), "--database-url", database_url]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "3 of 3 intact" in result.stdout
    assert "statistics of user:demo-user" in result.stdout
    again = runner.invoke(app, [*args, "--json"])
    document = json.loads(again.stdout)
    assert (document["recorded"], document["duplicates"], document["broken_chains"]) == (0, 12, 0)
    assert {"StreamOpened", "StreamCompleted"} <= {e["event"] for e in document["events"]}


def test_unusable_database_exits_3() -> None:
    result = runner.invoke(app, ["demo", "--database-url", "mysql://nope/x"])
    assert result.exit_code == 3


def test_help_explains_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "ingest" in result.stdout
    assert "demo" in result.stdout


def test_the_shared_data_set_is_found_beside_the_checkout() -> None:
    """Where ../shared/data exists, it is used: a test of it must not skip by mistake."""
    beside = (
        Path(__file__).resolve().parents[2] / "shared" / "data" / "mt_bench_conversations.jsonl"
    )
    assert default_data_file() == (beside if beside.is_file() else None)


@pytest.mark.slow
def test_the_shared_data_set_is_recorded_exactly(
    database_url: str, open_pipeline: PipelineFactory
) -> None:
    data = default_data_file()
    if data is None:
        pytest.skip("../shared/data is absent")
    code, first = ingest(data, database_url)
    assert code == 0
    assert (first["conversations"], first["recorded"], first["failed"]) == (2560, 10240, 0)
    pipeline = open_pipeline()
    counter = pipeline.token_counter
    checked = 0
    for line in data.read_text(encoding="utf-8").splitlines():
        conversation = json.loads(line)
        events = list(pipeline.events.get(conversation["conversation_id"]))[1:]
        for turn, event in zip(conversation["messages"], events, strict=True):
            assert isinstance(event, Chat.UserMessageRecorded | Chat.AssistantMessageRecorded)
            content = pipeline.content_of(event) or ""
            assert content.encode("utf-8") == turn["content"].encode("utf-8")
            encoding = counter.encoding(event.tokens["encoding"])  # type: ignore[attr-defined]
            assert event.tokens["count"] == len(encoding.encode_ordinary(turn["content"]))
            checked += 1
    assert checked == 10240
    code, second = ingest(data, database_url)
    assert (code, second["recorded"], second["duplicates"]) == (0, 0, 10240)


def test_read_side_commands_report_status_rebuild_and_stats(
    tmp_path: Path, database_url: str
) -> None:
    file = write_jsonl(tmp_path / "conversations.jsonl", 3)
    assert ingest(file, database_url)[0] == 0
    database = ["--database-url", database_url]
    before = json.loads(runner.invoke(app, ["status", *database, "--json"]).stdout)
    assert {s["name"]: s["lag"] for s in before} == {"messages": 15, "stats": 15, "audit": 15}
    projected = runner.invoke(app, ["project", *database, "--json"])
    assert projected.exit_code == 0
    assert {s["name"]: s["lag"] for s in json.loads(projected.stdout)} == {
        "messages": 0,
        "stats": 0,
        "audit": 0,
    }
    rebuilt = runner.invoke(app, ["rebuild", "stats", *database, "--json"])
    assert [(s["name"], s["generation"]) for s in json.loads(rebuilt.stdout)] == [("stats", 2)]
    stats = runner.invoke(app, ["stats", "--user", "ingest", *database, "--json"])
    assert stats.exit_code == 0
    assert json.loads(stats.stdout)["stats"]["messages"] == 12
    refused = runner.invoke(
        app, ["stats", "--user", "mallory", "--chat", "generated:0:gpt-4o", *database]
    )
    assert refused.exit_code == 1
    assert "UNAUTHORIZED" in refused.stderr
    unknown = runner.invoke(app, ["rebuild", "nonsense", *database])
    assert unknown.exit_code == 2
