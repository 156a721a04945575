"""`chatledger ingest` keeps the whole conversation: every role and field of OpenAI chat-format and
ShareGPT lines, one bad message reported on its own (line, turn, code) while its neighbours are
recorded, standard input and FIFOs read once, and processing times that are each message's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chatledger import Ledger
from chatledger.infrastructure.cli.main import app
from chatledger.infrastructure.ingest.conversations import generate_conversations
from tests.conversation_samples import CONVERSATION, FINAL_ANSWER, PNG, TOOL_ARGUMENTS, sha256

OWNER = "ingest"
OPENAI_LINE = {
    "id": "conv-openai-1",
    "model": "gpt-4o",
    "messages": [
        *CONVERSATION,
        {"role": "assistant", "content": FINAL_ANSWER, "finish_reasons": ["stop"]},
    ],
}
SHAREGPT_LINE = {"id": "conv-sharegpt-1", "conversations": [
    {"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi!"},
    {"from": "gpt", "value": "Hello."}, {"from": "narrator", "value": "(pause)"},
    {"from": "observation", "value": "{}"}, {"from": "human", "value": "Bye"}]}  # fmt: skip


def ingest(path: Path | str, database_url: str, *options: str, stdin: str | None = None) -> Any:
    result = CliRunner().invoke(
        app, ["ingest", str(path), "--json", "--database-url", database_url, *options], input=stdin
    )
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1])


def write_lines(path: Path, *documents: Any) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in documents), encoding="utf-8")
    return path


def roles(ledger: Ledger, chat_id: str) -> list[str]:
    replayed = ledger.replay_chat(chat_id, OWNER).chat
    assert replayed is not None
    return [m["role"] for m in replayed.messages]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_openai_lines_keep_roles_parts_and_tool_calls(
    tmp_path: Path, database_url: str, ledger: Ledger, stream: bool
) -> None:
    path = write_lines(tmp_path / "openai.jsonl", OPENAI_LINE)
    options = ["--stream"] if stream else []
    code, first = ingest(path, database_url, *options)
    assert (code, first["recorded"], first["failed"]) == (0, 6, 0), first
    assert roles(ledger, "conv-openai-1") == ["system", "developer", "user", "assistant", "tool",
                                              "assistant"]  # fmt: skip
    replayed = ledger.replay_chat("conv-openai-1", OWNER).chat
    assert replayed is not None
    messages = replayed.messages
    assert json.loads(messages[2]["parts"])[1]["sha256"] == sha256(PNG)
    assert json.loads(messages[3]["tool_calls"])[0]["arguments"] == TOOL_ARGUMENTS
    assert messages[4]["tool_call_id"] == "call_4711"
    assert (messages[5]["content"], json.loads(messages[5]["finish_reasons"])) == (
        FINAL_ANSWER, ["stop"])  # fmt: skip
    assert messages[5]["kind"] == ("stream" if stream else "message")
    code, again = ingest(path, database_url, *options)
    assert (code, again["recorded"], again["duplicates"]) == (0, 0, 6)
    assert ledger.verify().intact


def test_one_bad_message_is_reported_alone_and_its_neighbours_are_recorded(
    tmp_path: Path, database_url: str, ledger: Ledger
) -> None:
    bad_call = {"role": "assistant", "tool_calls": [{"id": "c1", "function": {
        "name": "f", "arguments": "{oops"}}]}  # fmt: skip
    chatledger_line = {"conversation_id": "conv-mixed", "messages": [
        {"role": "user", "content": ""}, {"role": "wizard", "content": "x"}, bad_call,
        {"role": "tool", "content": "no call named"}, "not a message",
        {"role": "assistant", "content": "fine"}]}  # fmt: skip
    path = write_lines(tmp_path / "mixed.jsonl", chatledger_line, {"conversation_id": "conv-ok",
                       "messages": [{"role": "user", "content": "hello"}]})  # fmt: skip
    code, totals = ingest(path, database_url, "--clients", "2")
    assert code == 1
    assert (totals["recorded"], totals["failed"]) == (3, 4)
    failures = totals["failures"]
    assert [(f["line"], f["turn"], f["code"]) for f in failures] == [
        (1, turn, "VALIDATION_ERROR") for turn in (1, 2, 3, 4)]  # fmt: skip
    # Each says what was wrong, naming the field, never the value (the role "wizard").
    assert [f["reason"] for f in failures] == [
        "message 1: role must be one of system, developer, user, assistant, tool",
        "message 2: tool_calls.0.arguments: arguments are not JSON text",
        "message 3: tool_call_id: Field required",
        "message 4: each message must be a JSON object",
    ]
    assert roles(ledger, "conv-mixed") == ["user", "assistant"]  # the empty one, with a warning
    assert roles(ledger, "conv-ok") == ["user"]


def test_the_table_of_messages_not_recorded_gives_each_reason(
    tmp_path: Path, database_url: str
) -> None:
    line = {"conversation_id": "conv-bad", "messages": [{"role": "wizard", "content": "x"}]}
    path = write_lines(tmp_path / "bad.jsonl", line)
    env = {**os.environ, "CHATLEDGER_DATABASE_URL": database_url, "COLUMNS": "200"}
    shown = subprocess.run([sys.executable, "-m", "chatledger", "ingest", str(path)], env=env,
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert shown.returncode == 1, shown.stderr
    assert "role must be one of system, developer, user, assistant, tool" in shown.stdout
    assert "wizard" not in shown.stdout


def test_sharegpt_lines_map_speakers_to_roles_and_never_recast_an_unknown_one(
    tmp_path: Path, database_url: str, ledger: Ledger
) -> None:
    path = write_lines(tmp_path / "sharegpt.jsonl", SHAREGPT_LINE)
    code, totals = ingest(path, database_url)
    assert code == 1 and (totals["recorded"], totals["failed"]) == (4, 2)
    assert [f["turn"] for f in totals["failures"]] == [3, 4]  # narrator; a tool result, no call
    assert roles(ledger, "conv-sharegpt-1") == ["system", "user", "assistant", "user"]
    code, forced = ingest(path, database_url, "--format", "openai")  # not that format
    assert code == 1 and forced["unreadable_lines"] == [1]


def test_standard_input_is_read_once(tmp_path: Path, database_url: str, ledger: Ledger) -> None:
    lines = "".join(json.dumps(c.model_dump(exclude={"line"})) + "\n"
                    for c in generate_conversations(3))  # fmt: skip
    code, totals = ingest("-", database_url, stdin=lines)
    assert (code, totals["conversations"], totals["recorded"]) == (0, 3, 12)
    refused = CliRunner().invoke(
        app, ["ingest", "-", "--workers", "2", "--database-url", database_url], input=lines
    )
    assert refused.exit_code == 2


def test_a_fifo_is_read_once(tmp_path: Path, database_url: str, ledger: Ledger) -> None:
    fifo = tmp_path / "conversations.fifo"
    os.mkfifo(fifo)
    lines = "".join(json.dumps(c.model_dump(exclude={"line"})) + "\n"
                    for c in generate_conversations(2))  # fmt: skip

    def feed() -> None:
        with fifo.open("w", encoding="utf-8") as writer:
            writer.write(lines)

    feeder = threading.Thread(target=feed)
    feeder.start()
    done = subprocess.run(
        [sys.executable, "-m", "chatledger", "ingest", str(fifo), "--json", "--database-url",
         database_url], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    feeder.join(10)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["recorded"] == 8


def test_after_a_bulk_ingest_processing_times_are_each_messages_own(
    tmp_path: Path, database_url: str, ledger: Ledger
) -> None:
    conversations = generate_conversations(150)
    path = write_lines(tmp_path / "bulk.jsonl",
                       *(c.model_dump(exclude={"line"}) for c in conversations))  # fmt: skip
    code, totals = ingest(path, database_url)
    assert (code, totals["recorded"]) == (0, 600)
    stats = ledger.stats(OWNER).stats
    assert stats is not None and stats.processing_time.count == 600
    # A window of 500 messages takes far longer than 50 ms; each message alone takes far less.
    assert stats.processing_time.p50_ms is not None and stats.processing_time.p50_ms < 50
