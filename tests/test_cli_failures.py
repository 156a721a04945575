"""Every command meets each foreseeable failure with one line and its documented exit code, never
a traceback: a database that cannot be read, an event that cannot be decoded, a file that is
missing, a database file it may not open. Both backends where the failure exists on both."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.cli.main import app
from tests.conftest import postgres_base_url
from tests.tampering import Tamper, chats
from tests.test_quarantine import bytes_as_text, truncate_json

Arguments = Callable[[Path], list[str]]
CONVERSATION = {"conversation_id": "fresh-1", "model": "m",
                "messages": [{"role": "user", "content": "hi"},
                             {"role": "assistant", "content": "hello"}]}  # fmt: skip
COMMANDS: dict[str, Arguments] = {
    "demo": lambda d: ["demo", "--conversations", "1", "--data", str(d / "conv.jsonl")],
    # The demo's conversation again, as the demo's user: recorded once, then duplicates.
    "ingest": lambda d: ["ingest", str(d / "conv.jsonl"), "--user-id", "demo-user"],
    "audit": lambda d: ["audit", "--format", "jsonl", "--output", str(d / "audit.jsonl")],
    "erase-user": lambda d: ["erase-user", "nobody", "--reason", "r", "--requested-by", "dpo"],
    "project": lambda d: ["project"],
    "status": lambda d: ["status"],
    "rebuild": lambda d: ["rebuild"],
    "stats": lambda d: ["stats", "--user", "alice"],
    "replay": lambda d: ["replay", "c1"],
    "verify": lambda d: ["verify"],
    "checkpoint": lambda d: [
        "checkpoint",
        "--key",
        str(d / "k.pem"),
        "--output",
        str(d / "cp.json"),
    ],
    "export-proof": lambda d: [
        "export-proof",
        "--key",
        str(d / "k.pem"),
        "--checkpoints",
        str(d),
        "--output",
        str(d / "proof.zip"),
    ],
    "keys create": lambda d: ["keys", "create", "--user", "alice"],
    "keys list": lambda d: ["keys", "list"],
    "keys revoke": lambda d: ["keys", "revoke", "no-such-key"],
    "otel-export": lambda d: ["otel-export"],
    "serve": lambda d: ["serve", "--port", "0", "--no-follow"],
}
# With a damaged event in the log: what each command answers (a server would keep running,
# an OTLP export would need a collector: both are shown to start above, not run here).
DAMAGED_EXIT = {"demo": 0, "ingest": 0, "audit": 0, "erase-user": 1, "project": 0, "status": 0,
                "rebuild": 0, "stats": 0, "replay": 0, "verify": 1, "checkpoint": 1,
                "export-proof": 1, "keys create": 0, "keys list": 0, "keys revoke": 1}  # fmt: skip


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "conv.jsonl").write_text(json.dumps(CONVERSATION) + "\n", encoding="utf-8")
    return tmp_path


def invoke(arguments: list[str], database_url: str, **env: str) -> Result:
    settings = {"CHATLEDGER_DATABASE_URL": database_url, "CHATLEDGER_LOG_LEVEL": "warning",
                "CHATLEDGER_POSTGRES_CONNECT_TIMEOUT_S": "1", **env}  # fmt: skip
    return CliRunner().invoke(app, arguments, env=settings)


def assert_one_clear_line(result: Result, exit_code: int) -> None:
    shown = result.output
    assert "Traceback" not in shown, shown
    assert result.exception is None or isinstance(result.exception, SystemExit), shown
    assert result.exit_code == exit_code, shown


def unreadable_database(backend: str, folder: Path) -> str:
    if backend == "sqlite":
        garbage = folder / "garbage.sqlite"
        garbage.write_bytes(b"not a database\n" * 512)
        return f"sqlite:///{garbage}"
    return f"{postgres_base_url().rsplit('/', 1)[0]}/no_such_database"


@pytest.mark.parametrize("command", COMMANDS)
def test_a_database_that_cannot_be_read_is_exit_3(backend: str, folder: Path, command: str) -> None:
    result = invoke(COMMANDS[command](folder), unreadable_database(backend, folder))
    assert_one_clear_line(result, 3)
    assert "cannot open the database" in result.output


def test_with_a_damaged_event_every_command_answers(
    pipeline: PersistencePipeline, tamper: Tamper, backend: str, database_url: str, folder: Path
) -> None:
    chats(pipeline)
    # The issue's own case on SQLite: the state turned from bytes into text by an UPDATE.
    damage = bytes_as_text if backend == "sqlite" else truncate_json
    tamper(lambda cursor, table: damage(cursor, table, backend))
    for command, exit_code in DAMAGED_EXIT.items():
        result = invoke(COMMANDS[command](folder), database_url)
        assert_one_clear_line(result, exit_code)
    assert "c1" in invoke(["verify"], database_url).output
    assert "an event cannot be read" in invoke(COMMANDS["checkpoint"](folder), database_url).output


def test_missing_files_are_named(
    pipeline: PersistencePipeline, database_url: str, folder: Path, tmp_path: Path
) -> None:
    chats(pipeline)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    checkpoint = elsewhere / "cp.json"
    key = elsewhere / "chatledger-checkpoint.key"
    made = invoke(["checkpoint", "--key", str(key), "--output", str(checkpoint)], database_url)
    assert made.exit_code == 0, made.output
    # Run from another folder: the public key beside the checkpoint is found.
    os.chdir(folder)
    assert_one_clear_line(invoke(["verify", "--checkpoint", str(checkpoint)], database_url), 0)
    (elsewhere / "chatledger-checkpoint.key.pub").rename(elsewhere / "moved.pub")
    cases = {
        ("verify", "--checkpoint", str(folder / "none.json")): 3,
        ("verify", "--checkpoint", str(checkpoint)): 3,
        ("checkpoint", "--key", str(folder / "no" / "such" / "k.pem")): 3,
        ("export-proof", "--key", str(folder / "none.pem"), "--checkpoints", str(folder)): 3,
        ("ingest", str(folder / "none.jsonl")): 3,
        ("audit", "--format", "jsonl", "--output", str(folder / "no" / "out.jsonl")): 3,
        ("demo", "--data", str(folder / "none.jsonl")): 3,
    }
    for arguments, exit_code in cases.items():
        result = invoke(list(arguments), database_url)
        assert_one_clear_line(result, exit_code)
        assert "no" in result.output  # the missing file, or what is missing, is named


def without_file_permissions() -> list[str]:
    """Root reads every file: the commands run without the capabilities that allow it."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is needed to run a command without root's file rights")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--"]


def test_a_database_file_that_may_not_be_opened_is_exit_3(
    pipeline: PersistencePipeline, backend: str, database_url: str, folder: Path
) -> None:
    if backend != "sqlite":
        pytest.skip("a file's permissions: PostgreSQL's own refusals are in test_least_privilege")
    chats(pipeline)
    pipeline.close()
    database = Path(database_url.removeprefix("sqlite:///"))
    database.chmod(0)
    command = [*without_file_permissions(), sys.executable, "-m", "chatledger"]
    env = dict(os.environ, CHATLEDGER_DATABASE_URL=database_url, CHATLEDGER_LOG_LEVEL="warning")
    for name, arguments in COMMANDS.items():
        done = subprocess.run([*command, *arguments(folder)], env=env, capture_output=True,
                              text=True, timeout=120, check=False)  # fmt: skip
        assert "Traceback" not in done.stderr, (name, done.stderr)
        assert done.returncode == 3, (name, done.returncode, done.stderr)
        assert "cannot open the database" in done.stderr, (name, done.stderr)
