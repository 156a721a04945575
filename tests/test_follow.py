"""A follow process keeps the read models current for a writer in another process, and a
follow process killed mid-way and restarted leaves them exact."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from structlog.testing import capture_logs

from chatledger.domain.chat import Chat
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.read_store.following import keep_following
from chatledger.projections.read_side import ReadSide
from tests.read_model_oracle import actual_dumps, expected_dumps


def start_follower(database_url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "chatledger", "project", "--follow", "--poll-seconds", "0.02",
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
    pipeline: PersistencePipeline,
    open_read_side: Callable[..., ReadSide],
    database_url: str,
    rng: random.Random,
) -> None:
    for chat in range(5):
        pipeline.start_chat(f"c{chat}", "alice")
    observer = open_read_side(pipeline, catch_up_on_read=False)
    written = 0
    for _ in range(3):
        follower = start_follower(database_url)
        write(pipeline, written, 60)
        written += 60
        time.sleep(rng.uniform(0.0, 0.3))
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


IDENTITY_AND_CHAIN = {"originator_id", "originator_version", "timestamp", "hash", "prev_hash",
                      "originator_topic"}  # fmt: skip


def test_an_event_a_projection_cannot_apply_holds_back_only_that_projection(
    pipeline: PersistencePipeline, open_read_side: Callable[..., ReadSide]
) -> None:
    """An event recorded before provider counts were bounded (2**63 input tokens) cannot be
    applied by the message table or the statistics (64-bit columns): those two keep retrying
    and say so in the log, while the audit index goes on; a bug stops nothing else."""
    pipeline.start_chat("c", "alice")
    usage = {"input_tokens": 1}
    assert pipeline.persist_assistant_message("c", "alice", "ok", usage=usage).success
    valid = list(pipeline.events.get("c"))[-1]
    fields = {k: v for k, v in vars(valid).items() if k not in IDENTITY_AND_CHAIN}
    legacy = {**fields, "message_id": "legacy", "usage": {**fields["usage"], "input_tokens": 2**63}}
    chat: Chat = pipeline.repository.get("c")
    chat.trigger_event(Chat.AssistantMessageRecorded, **legacy)
    pipeline.save(chat)  # around the validation, as an old release would have recorded it
    assert pipeline.persist_user_message("c", "alice", "after", message_id="u-after").success
    read_side = open_read_side(pipeline, catch_up_on_read=False)
    stop, failed = threading.Event(), threading.Event()
    threads = [threading.Thread(target=keep_following, args=(runner, stop, 0.01, failed))
               for runner in read_side.runners.values()]  # fmt: skip
    with capture_logs() as logs:
        for thread in threads:
            thread.start()
        try:
            deadline = time.monotonic() + 20
            while not any(e["event"] in ("projection failed", "projection paused") for e in logs):
                assert time.monotonic() < deadline, logs
                time.sleep(0.02)
            # After the failure, the other projections still follow new events.
            assert pipeline.persist_user_message("c", "alice", "later", message_id="u-3").success
            while read_side.runner("audit").status().lag:
                assert time.monotonic() < deadline, "the audit index stopped following"
                time.sleep(0.02)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
    lag = {status.name: status.lag for status in read_side.status()}
    assert lag["audit"] == 0 and lag["messages"] > 0 and lag["stats"] > 0  # its batch waits
    held_back = {e["projection"] for e in logs if e["event"].startswith("projection ")}
    assert held_back <= {"messages", "stats"}, logs
