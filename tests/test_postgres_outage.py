"""PostgreSQL goes away mid-ingest (the test's own cluster, stopped as in a crash and started
again): persists and queries fail fast with a coded PERSISTENCE_ERROR and a retry hint, the
pools recover, the ingest completes with nothing lost or doubled, and the follow process
catches up by itself. No log line holds content, keys or the database password."""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from chatledger.domain.chain import find_broken_link
from chatledger.domain.chat import Chat
from chatledger.domain.errors import ErrorCode
from chatledger.domain.messages import CommandResult
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.bootstrap import bootstrap, build_read_side
from chatledger.infrastructure.ingest.conversations import generate_conversations
from chatledger.infrastructure.settings import Settings
from chatledger.infrastructure.tokenizer.tiktoken_counter import TiktokenCounter
from chatledger.projections.read_side import ReadSide
from tests.own_postgres import OwnCluster
from tests.read_model_oracle import actual_dumps, all_events, expected_dumps
from tests.reliability_figures import record_figures

MESSAGES = 120
OUTAGE_AT = 40
TRIED_WHILE_DOWN = 4
CHATS = 4
PLANTED = "PLANTED-CONTENT-outage"
PLANTED_KEY = "sk-live-PLANTED-outage-0123456789"
DOWN_AT_LEAST_S = 10.0
RECOVERS_WITHIN_S = 3.0
FAIL_FAST_S = 4.0  # connect timeout 1 s, lock timeout 1 s, and slack for a loaded machine
INGEST_CONVERSATIONS = 20


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[OwnCluster]:
    cluster = OwnCluster.start_new_or_skip()
    yield cluster
    cluster.remove()


class LogLines(logging.Handler):
    """Every stdlib log record (psycopg, psycopg_pool, eventsourcing), as text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def stdlib_logs() -> Iterator[LogLines]:
    handler = LogLines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def persist(pipeline: PersistencePipeline, index: int) -> CommandResult:
    return pipeline.persist_user_message(
        f"outage-{index % CHATS}", "alice", f"message {index} {PLANTED}",
        message_id=f"m{index}", metadata={"api_key": PLANTED_KEY},
    )  # fmt: skip


def until_success(call: Callable[[], CommandResult], timeout: float = 30.0) -> tuple[int, float]:
    """The client's retry (same message id): attempts and seconds until it succeeded."""
    started = time.monotonic()
    for attempt in itertools.count(1):
        result = call()
        if result.success:
            return attempt, time.monotonic() - started
        assert result.error is not None and result.error.code == ErrorCode.PERSISTENCE_ERROR
        assert time.monotonic() - started < timeout, "the pool did not recover"
        time.sleep(0.05)
    raise AssertionError  # pragma: no cover - count() never ends


def assert_fails_fast(call: object, code: ErrorCode = ErrorCode.PERSISTENCE_ERROR) -> float:
    started = time.monotonic()
    assert callable(call)
    result = call()
    waited = time.monotonic() - started
    assert isinstance(result, CommandResult)
    assert result.error is not None and result.error.code == code, result
    assert "retry" in result.error.recovery_hint
    assert waited < FAIL_FAST_S, f"took {waited:.1f} s: a lost server must fail fast"
    return waited


def start_follower(url: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "chatledger", "project", "--follow", "--poll-seconds", "0.05",
             "--database-url", url],
            stdout=subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip


def run_ingest(url: str, conversations: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    """`chatledger ingest`, with a 1 s connect timeout; the run and its duration."""
    environment = {**os.environ, "CHATLEDGER_POSTGRES_CONNECT_TIMEOUT_S": "1"}
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "chatledger", "ingest", str(conversations), "--database-url", url,
         "--json"],
        capture_output=True, text=True, timeout=120, env=environment,
    )  # fmt: skip
    return run, time.monotonic() - started


def wait_until_following(log: Path, timeout: float = 60.0) -> None:
    """Its first log line says it follows: it has opened the database and caught up once."""
    started = time.monotonic()
    while b"following" not in log.read_bytes():
        assert time.monotonic() - started < timeout, log.read_text()[-2000:]
        time.sleep(0.05)


def wait_until_caught_up(read_side: ReadSide, timeout: float) -> float:
    started = time.monotonic()
    while any(status.lag for status in read_side.status()):
        assert time.monotonic() - started < timeout, "the follow process did not recover"
        time.sleep(0.1)
    return time.monotonic() - started


def test_postgres_stopped_and_started_mid_ingest(
    own_cluster: OwnCluster,
    token_counter: TiktokenCounter,
    stdlib_logs: LogLines,
    tmp_path: Path,
) -> None:
    url = own_cluster.url
    settings = Settings(
        database_url=url, lock_timeout_s=1, postgres_connect_timeout_s=1, postgres_pool_size=3
    )
    pipeline = bootstrap(settings, token_counter=token_counter)
    read_side = build_read_side(settings, pipeline, catch_up_on_read=False)
    conversations = tmp_path / "conversations.jsonl"
    lines = [c.model_dump_json() for c in generate_conversations(INGEST_CONVERSATIONS)]
    conversations.write_text("\n".join(lines) + "\n", encoding="utf-8")
    follower_log = tmp_path / "follower.log"
    follower = start_follower(url, follower_log)
    waits: list[float] = []
    try:
        wait_until_following(follower_log)
        with capture_logs() as logs:
            for chat in range(CHATS):
                assert pipeline.start_chat(f"outage-{chat}", "alice").success
            for index in range(OUTAGE_AT):
                assert persist(pipeline, index).success
            own_cluster.stop("immediate")
            stopped = time.monotonic()
            for index in range(OUTAGE_AT, OUTAGE_AT + TRIED_WHILE_DOWN):
                waits.append(assert_fails_fast(lambda i=index: persist(pipeline, i)))
            waits.append(assert_fails_fast(lambda: pipeline.start_chat("new", "alice")))
            down_ingest, down_ingest_s = run_ingest(url, conversations)
            assert down_ingest.returncode in (1, 3), down_ingest.stderr[-2000:]
            assert "Traceback" not in down_ingest.stderr
            assert down_ingest_s < 20, "the ingest command must give up, not hang"
            for query in (
                lambda: read_side.get_message_persistence_stats("alice", "outage-0"),
                lambda: read_side.get_message_persistence_stats("alice"),
                lambda: read_side.audit_trail("alice"),
                lambda: read_side.replay_chat("outage-1", "alice"),
            ):
                waits.append(assert_fails_fast(query))
            # Long enough for connection retries to back off (1, 2, 4, 8 s): the pools must
            # still try the server again as soon as it is back, not a backed-off pause later.
            time.sleep(max(0.0, DOWN_AT_LEAST_S - (time.monotonic() - stopped)))
            own_cluster.start()
            retried = [until_success(partial(persist, pipeline, OUTAGE_AT))]
            _, read_recovered_s = until_success(
                partial(read_side.get_message_persistence_stats, "alice")
            )
            retried += [
                until_success(partial(persist, pipeline, i)) for i in range(OUTAGE_AT + 1, MESSAGES)
            ]
            write_recovered_s = retried[0][1]
            assert max(read_recovered_s, write_recovered_s) < RECOVERS_WITHIN_S
            ingested, _ = run_ingest(url, conversations)  # the same file again: it completes
            again, _ = run_ingest(url, conversations)  # and once more: nothing doubles
        caught_up_s = wait_until_caught_up(read_side, timeout=60)
    finally:
        follower.send_signal(signal.SIGTERM)
        follower_exit = follower.wait(timeout=30)
    assert follower_exit == 0, follower_log.read_text()[-3000:]
    follower_said = follower_log.read_text()
    assert "projection paused" in follower_said and "projection resumed" in follower_said

    fresh = bootstrap(settings, token_counter=token_counter)
    events = [event for _, event in all_events(fresh)]
    recorded = [e.message_id for e in events if isinstance(e, Chat.UserMessageRecorded)
                and e.originator_id.startswith("outage-")]  # fmt: skip
    assert sorted(recorded) == sorted(f"m{i}" for i in range(MESSAGES))  # none lost or doubled
    assert ingested.returncode == 0 and again.returncode == 0, ingested.stderr[-2000:]
    totals = [json.loads(run.stdout.strip().splitlines()[-1]) for run in (ingested, again)]
    messages = 4 * INGEST_CONVERSATIONS
    assert (totals[0]["recorded"], totals[0]["failed"]) == (messages, 0)
    assert (totals[1]["recorded"], totals[1]["duplicates"]) == (0, messages)
    ingest_events = [e for e in events if isinstance(e, Chat.MessageEvent)
                     and not e.originator_id.startswith("outage-")]  # fmt: skip
    assert len(ingest_events) == messages
    for chat in range(CHATS):
        chat_events = [e for e in events if e.originator_id == f"outage-{chat}"]
        versions = [e.originator_version for e in chat_events]
        assert versions == list(range(1, len(chat_events) + 1))
        assert find_broken_link(f"outage-{chat}", chat_events) is None
    assert actual_dumps(read_side) == expected_dumps(fresh)
    stats = read_side.get_message_persistence_stats("alice").stats
    assert stats is not None and stats.messages == MESSAGES

    everything = "\n".join([
        json.dumps(logs, default=str), *stdlib_logs.lines, follower_log.read_text(),
        *(run.stderr for run in (down_ingest, ingested, again)),
    ])  # fmt: skip
    assert "PERSISTENCE_ERROR" in everything  # the outage was logged, by code
    password = own_cluster.url.split(":")[2].split("@")[0]
    for secret in (PLANTED, PLANTED_KEY, password):
        assert secret not in everything
    record_figures(
        "postgres-outage",
        server_stops=1,
        server_starts=1,
        failed_fast=len(waits),
        slowest_failure_s=round(max(waits), 2),
        attempts_after_restart=sum(attempts for attempts, _ in retried),
        write_recovered_s=round(write_recovered_s, 2),
        read_recovered_s=round(read_recovered_s, 2),
        messages_checked=len(recorded),
        follower_caught_up_s=round(caught_up_s, 2),
        ingest_command_while_down=f"exit {down_ingest.returncode} in {down_ingest_s:.1f} s",
        ingest_command_after=f"{messages} recorded, then {messages} duplicates",
        lost=0,
        doubled=0,
    )
    for opened in (fresh, read_side, pipeline):
        opened.close()
