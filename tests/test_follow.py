"""A follow process keeps the read models current for a writer in another process, and a
follow process killed mid-way and restarted leaves them exact."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from domain.pipeline import PersistencePipeline
from projections.read_side import ReadSide
from tests.read_model_oracle import actual_dumps, expected_dumps

FOLLOW = "from infrastructure.cli import main; main()"


def start_follower(database_url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", FOLLOW, "project", "--follow", "--poll-seconds", "0.02",
         "--database-url", database_url],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def wait_until_following(follower: subprocess.Popen[bytes]) -> None:
    """Its first log line says it follows: from then on SIGTERM stops it cleanly."""
    assert follower.stderr is not None
    line = follower.stderr.readline()
    assert b"following" in line, line


def wait_until_caught_up(read_side: ReadSide, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while any(status.lag for status in read_side.status()):
        assert time.monotonic() < deadline, [vars(s) for s in read_side.status()]
        time.sleep(0.05)


def write(pipeline: PersistencePipeline, start: int, count: int) -> None:
    for index in range(start, start + count):
        chat = f"c{index % 5}"
        pipeline.persist_user_message(chat, "alice", f"message {index}", message_id=f"m{index}")
        opened = pipeline.open_stream(chat, "alice", message_id=f"s{index}")
        if opened.stream is not None:
            opened.stream.add_chunk("reply")
            pipeline.complete_stream(opened.stream)


def test_killed_follow_processes_leave_the_views_exact(
    pipeline: PersistencePipeline, open_read_side: Callable[..., ReadSide], database_url: str
) -> None:
    for chat in range(5):
        pipeline.start_chat(f"c{chat}", "alice")
    observer = open_read_side(pipeline, catch_up_on_read=False)
    written = 0
    for _ in range(3):
        follower = start_follower(database_url)
        write(pipeline, written, 60)
        written += 60
        time.sleep(random.uniform(0.0, 0.3))
        os.kill(follower.pid, signal.SIGKILL)  # mid-batch, as likely as not
        follower.wait()
    follower = start_follower(database_url)
    try:
        wait_until_following(follower)
        wait_until_caught_up(observer)
    finally:
        follower.send_signal(signal.SIGTERM)
        assert follower.wait(timeout=30) == 0
    assert actual_dumps(observer) == expected_dumps(pipeline)


def test_the_follower_keeps_views_current_for_another_writer(
    pipeline: PersistencePipeline, open_read_side: Callable[..., ReadSide], database_url: str
) -> None:
    for chat in range(5):
        pipeline.start_chat(f"c{chat}", "alice")
    observer = open_read_side(pipeline, catch_up_on_read=False)
    follower = start_follower(database_url)
    try:
        write(pipeline, 0, 5)
        wait_until_caught_up(observer)
        stats = observer.get_message_persistence_stats("alice").stats
        assert stats is not None
        assert stats.messages == 10
    finally:
        follower.send_signal(signal.SIGTERM)
        follower.wait(timeout=30)
