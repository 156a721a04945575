"""A full disk under SQLite: the database on a small filesystem of the test's own (a 4 MiB
tmpfs, filled up with a ballast file until ENOSPC). Writes while it is full answer a coded
PERSISTENCE_ERROR with a retry hint, fast, with 16 callers sharing the group commit; nothing is
half-written (no event of a failed write, no read-model batch without its position, chains and
the file intact); reads still answer; `chatledger project` and `rebuild` say so in one line.
Once the ballast is deleted, the same ids are recorded, once each, and the read models catch up."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import pytest

from chatledger.domain.chat import Chat
from chatledger.domain.errors import ErrorCode
from chatledger.domain.messages import CommandResult
from chatledger.infrastructure.ledger.ledger import Ledger
from chatledger.infrastructure.settings import Settings
from chatledger.infrastructure.tokenizer.tiktoken_counter import TiktokenCounter
from tests.read_model_oracle import actual_dumps, expected_dumps
from tests.reliability_figures import record_figures

pytestmark = pytest.mark.slow
SIZE = "4m"
CHATS = 4
BEFORE = 40  # messages recorded before the disk fills
CALLERS = 16
EACH = 4  # messages per caller while full
FAILS_FAST_S = 5.0


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of its own, mounted for this test: a real filesystem that really fills up."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mount_point)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        problem = mounted.stderr.strip() if mounted.returncode else None
    except OSError as error:  # no mount command
        problem = str(error)
    if problem is not None:
        reason = f"mounting a small tmpfs needs root (CAP_SYS_ADMIN): {problem}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], check=False).returncode:
            subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill_up(directory: Path) -> Path:
    """Write a ballast file until the filesystem refuses: ENOSPC. Returns it, to free later."""
    ballast = directory / "ballast"
    with ballast.open("wb", buffering=0) as out:
        refused = write_until_refused(out)
    assert refused.errno == errno.ENOSPC, refused
    return ballast


def write_until_refused(out: BinaryIO) -> OSError:
    while True:
        try:
            out.write(bytes(4096))
        except OSError as error:
            return error


def persist(ledger: Ledger, ident: str) -> tuple[CommandResult, float]:
    chat = f"full-{int(ident.split('-')[1]) % CHATS}"
    began = time.monotonic()
    result = ledger.persist_user_message(chat, "alice", f"message {ident} " + "x" * 300,
                                         message_id=ident)  # fmt: skip
    return result, time.monotonic() - began


def from_16_callers(ledger: Ledger, idents: list[str]) -> list[tuple[CommandResult, float]]:
    """Concurrent callers, so that they share the group commit; none may hang."""
    with ThreadPoolExecutor(CALLERS) as pool:
        futures = [pool.submit(persist, ledger, ident) for ident in idents]
        return [future.result(timeout=60) for future in futures]


def read_models_command(command: str, url: str) -> subprocess.CompletedProcess[str]:
    """`chatledger project` or `chatledger rebuild`."""
    return subprocess.run(
        [sys.executable, "-m", "chatledger", command, "--json", "--database-url", url],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_full_disk_fails_writes_with_a_code_and_recording_resumes_when_freed(
    small_filesystem: Path, token_counter: TiktokenCounter
) -> None:
    path = small_filesystem / "ledger.sqlite"
    settings = Settings(database_url=f"sqlite:///{path}", lock_timeout_s=2)
    url = settings.database_url.get_secret_value()
    with (
        Ledger(settings=settings, token_counter=token_counter, catch_up_on_read=False) as ledger,
        Ledger(settings=settings, token_counter=token_counter, catch_up_on_read=True) as reader,
    ):
        for chat in range(CHATS):
            assert ledger.start_chat(f"full-{chat}", "alice").success
        assert all(persist(ledger, f"b-{i}")[0].success for i in range(BEFORE // 2))
        ledger.catch_up()  # the read models are current up to here, then lag behind
        assert all(persist(ledger, f"b-{i}")[0].success for i in range(BEFORE // 2, BEFORE))
        positions = {s.name: s.position for s in ledger.status()}
        # The WAL copied into the file and emptied: no room kept from earlier writes.
        with sqlite3.connect(path) as connection:
            assert connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
        ballast = fill_up(small_filesystem)

        idents = [f"w-{n}-{caller}" for caller in range(CALLERS) for n in range(EACH)]
        while_full = from_16_callers(ledger, idents)
        for result, _ in while_full:
            assert result.error is not None, "recorded on a full disk?"
            assert result.error.code == ErrorCode.PERSISTENCE_ERROR, result.error
            assert "retry with the same message id" in result.error.recovery_hint
        slowest = max(seconds for _, seconds in while_full)
        assert slowest < FAILS_FAST_S
        new_user = ledger.start_chat("full-bob", "bob")  # a new user's key must be stored too
        assert new_user.error is not None and new_user.error.code == ErrorCode.PERSISTENCE_ERROR
        # Reads answer: what is recorded, and (catching up first) a coded error, not an exception.
        verified = ledger.verify()
        assert verified.success and verified.intact, verified
        stale = ledger.stats("alice").stats
        assert stale is not None and stale.messages == BEFORE // 2
        catching_up = reader.stats("alice")
        assert catching_up.error is not None
        assert catching_up.error.code == ErrorCode.PERSISTENCE_ERROR
        for command in ("project", "rebuild"):
            refused = read_models_command(command, url)
            assert refused.returncode == 3, refused.stderr[-2000:]
            assert "Traceback" not in refused.stderr and "the database failed" in refused.stderr
        assert {s.name: s.position for s in ledger.status()} == positions  # no batch half-applied
        assert_nothing_half_written(ledger, path, expected_messages=BEFORE)

        ballast.unlink()
        after = from_16_callers(ledger, idents)  # the same ids: recorded now, once each
        assert all(r.success and not r.duplicate for r, _ in after), [r.error for r, _ in after]
        assert ledger.start_chat("full-bob", "bob").success
        assert read_models_command("project", url).returncode == 0
        stats = reader.stats("alice").stats
        assert stats is not None and stats.messages == BEFORE + len(idents)
        assert actual_dumps(reader.read_side) == expected_dumps(reader.pipeline)
        assert_nothing_half_written(ledger, path, expected_messages=BEFORE + len(idents))
    record_figures(
        "full-disk-sqlite", filesystem="tmpfs of 4 MiB", callers=CALLERS,
        writes_while_full=len(while_full), failed_with_persistence_error=len(while_full),
        slowest_failure_s=round(slowest, 3), new_user_while_full="PERSISTENCE_ERROR",
        project_and_rebuild_commands_while_full="exit 3, one line",  # asserted above
        recorded_after_freeing=len(after), messages_checked=BEFORE + len(idents),
        lost=0, doubled=0,
    )  # fmt: skip


def assert_nothing_half_written(ledger: Ledger, path: Path, expected_messages: int) -> None:
    """Each message once, versions contiguous, chains intact, the file sound."""
    message_ids: list[str] = []
    for chat in range(CHATS):
        before = len(message_ids)
        events = list(ledger.pipeline.events.get(f"full-{chat}"))
        assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
        message_ids += [e.message_id for e in events if isinstance(e, Chat.UserMessageRecorded)]
        assert len(events) == 1 + len(message_ids) - before, "an event of another kind"
    assert len(message_ids) == len(set(message_ids)) == expected_messages
    assert ledger.verify().intact
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
