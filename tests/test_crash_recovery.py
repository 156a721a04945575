"""kill -9 of an ingest process at random moments, then a restart that resumes with the same ids
(both backends): every acknowledged message exists exactly once, nothing is half-written, every
chain verifies, the read models equal the events, and no log line holds content or secrets."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from chatledger.domain.chain import find_broken_link
from chatledger.domain.chat import Chat, ChatEvent
from chatledger.domain.errors import ErrorCode
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.domain.stream_context import StreamContext
from chatledger.infrastructure.cli.main import app
from chatledger.infrastructure.ingest.conversations import generate_conversations
from chatledger.projections.read_side import ReadSide
from tests import crash_worker
from tests.conftest import PipelineFactory
from tests.read_model_oracle import actual_dumps, all_events, expected_dumps
from tests.reliability_figures import record_figures

ROOT = Path(__file__).resolve().parent.parent
LANES = ("lane-a", "lane-b")  # two ingests at once, each killed and restarted on its own chats
KILLS_PER_LANE = 10  # a lane's trials run until this many kills landed before it finished
MESSAGES = 120
SECRETS = (crash_worker.PLANTED_CONTENT, crash_worker.PLANTED_KEY)
Ack = tuple[str, str, str]  # (kind, chat, message id)


@dataclass
class WorkerRun:
    acknowledged: list[Ack] = field(default_factory=list)
    ready: bool = False
    returncode: int | None = None
    log: str = ""


@dataclass(frozen=True)
class Kill:
    """SIGKILL after `seconds` from the start, or `jitter` seconds after the `acks`-th ack."""

    seconds: float | None = None
    acks: int | None = None
    jitter: float = 0.0


def run_worker(database_url: str, lane: str, log_file: Path, kill: Kill | None) -> WorkerRun:
    run = WorkerRun()
    with log_file.open("w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.crash_worker", database_url, "--prefix", lane,
             "--messages", str(MESSAGES)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
        )  # fmt: skip
        reader = threading.Thread(target=read_acks, args=(worker, run, kill))
        reader.start()
        if kill is not None and kill.seconds is not None:
            time.sleep(kill.seconds)
            worker.send_signal(signal.SIGKILL)
        run.returncode = worker.wait(timeout=120)
        reader.join()
    run.log = log_file.read_text()
    return run


def read_acks(worker: subprocess.Popen[str], run: WorkerRun, kill: Kill | None) -> None:
    assert worker.stdout is not None
    for line in worker.stdout:
        kind, chat, ident = line.split()
        run.acknowledged.append((kind, chat, ident))
        run.ready = run.ready or kind == "ready"
        if kill is not None and len(run.acknowledged) == kill.acks:
            time.sleep(kill.jitter)  # the worker keeps writing meanwhile
            worker.send_signal(signal.SIGKILL)


def message_events(pipeline: PersistencePipeline) -> Counter[Ack]:
    """(event type, chat, message id) -> times recorded; checks every chain on the way."""
    events = [event for _, event in all_events(pipeline)]
    by_chat: dict[str, list[ChatEvent]] = {}
    for event in events:
        by_chat.setdefault(event.originator_id, []).append(event)
    for chat_id, chat_events in by_chat.items():
        assert find_broken_link(chat_id, chat_events) is None, chat_id
    return Counter(
        (type(e).__name__, e.originator_id, e.message_id)
        for e in events
        if isinstance(e, Chat.MessageEvent)
    )


def assert_acknowledged_exactly_once(recorded: Counter[Ack], acknowledged: set[Ack]) -> None:
    assert all(count == 1 for count in recorded.values()), recorded.most_common(3)
    for kind, chat, ident in acknowledged:
        if kind == "recorded" and ident.startswith("u"):
            assert recorded[("UserMessageRecorded", chat, ident)] == 1, ident
        elif kind == "recorded":
            assert recorded[("StreamCompleted", chat, ident)] == 1, ident
        if ident.startswith("s"):
            assert recorded[("StreamOpened", chat, ident)] == 1, ident
    # Nothing half-written: a stream is closed only after it was opened, in the same chat.
    for event_type, chat, ident in recorded:
        if event_type == "StreamCompleted":
            assert ("StreamOpened", chat, ident) in recorded


@dataclass
class Lane:
    """One ingest, killed at random moments and restarted with the same ids."""

    name: str
    database_url: str
    logs_in: Path
    check: Callable[[set[Ack]], None]
    trials: int = 0
    killed: int = 0
    killed_before_ready: int = 0
    acknowledged: set[Ack] = field(default_factory=set)
    logs: list[str] = field(default_factory=list)

    def run(self, rng: random.Random) -> None:
        while self.killed < KILLS_PER_LANE:
            self.trials += 1
            assert self.trials <= 3 * KILLS_PER_LANE, "too many trials ended before their kill"
            # One trial in four kills at any moment from the start, bootstrap and schema
            # creation included; the others while it records and projects, after a random
            # number of acknowledgements.
            if self.trials % 4 == 0:
                kill = Kill(seconds=rng.uniform(0, 1.5))
            else:
                kill = Kill(acks=rng.randint(1, MESSAGES * 4 // 3), jitter=rng.uniform(0, 0.02))
            log = self.logs_in / f"{self.name}-{self.trials}.log"
            run = run_worker(self.database_url, self.name, log, kill)
            assert run.returncode in (-signal.SIGKILL, 0), run.log[-2000:]
            self.killed += run.returncode == -signal.SIGKILL
            self.killed_before_ready += not run.ready
            self.acknowledged |= {a for a in run.acknowledged if a[0] in ("recorded", "opened")}
            self.logs.append(run.log)
            if run.ready:  # the store exists (a worker made it): check it after every kill
                self.check(self.acknowledged)

    def finish(self) -> None:
        finished = run_worker(self.database_url, self.name, self.logs_in / "resume.log", None)
        assert finished.returncode == 0, finished.log[-2000:]
        assert finished.acknowledged[-1][0] == "done"
        self.logs.append(finished.log)
        self.acknowledged |= {a for a in finished.acknowledged if a[0] == "recorded"}


def test_kill_9_at_random_moments_loses_and_doubles_nothing(
    open_pipeline: PipelineFactory,
    open_read_side: Callable[..., ReadSide],
    database_url: str,
    tmp_path: Path,
    backend: str,
    rng: random.Random,
) -> None:
    checking = threading.Lock()
    checker: list[PersistencePipeline] = []  # one for all: each holds a pool of connections

    def check(acknowledged: set[Ack]) -> None:
        with checking:
            checker[:] = checker or [open_pipeline()]
            assert_acknowledged_exactly_once(message_events(checker[0]), acknowledged)

    lanes = [Lane(name, database_url, tmp_path, check) for name in LANES]
    choices = [random.Random(rng.getrandbits(64)) for _ in lanes]  # each lane's own, in order
    with ThreadPoolExecutor(len(lanes)) as pool:  # both at once: a kill beside a live writer
        list(pool.map(Lane.run, lanes, choices))
    for lane in lanes:
        lane.finish()

    pipeline = open_pipeline()  # a fresh process's view: no cache
    recorded = message_events(pipeline)
    acknowledged = set().union(*(lane.acknowledged for lane in lanes))
    assert_acknowledged_exactly_once(recorded, acknowledged)
    streams = MESSAGES // 3
    assert len(recorded) == len(LANES) * (MESSAGES + streams)
    assert {a[2] for a in acknowledged} == {crash_worker.message_id(i) for i in range(MESSAGES)}

    # The views the killed processes built incrementally equal the events, and a rebuild.
    read_side = open_read_side(pipeline, catch_up_on_read=False)
    read_side.catch_up()
    expected = expected_dumps(pipeline)
    assert actual_dumps(read_side) == expected
    for name in read_side.runners:
        read_side.rebuild(name)
    assert actual_dumps(read_side) == expected
    stats = read_side.get_message_persistence_stats(crash_worker.OWNER).stats
    assert stats is not None and stats.messages == len(LANES) * MESSAGES
    assert stats.messages_by_status == {
        "completed": len(LANES) * streams, "recorded": len(LANES) * (MESSAGES - streams),
    }  # fmt: skip

    joined = "\n".join(log for lane in lanes for log in lane.logs)
    assert "persist_user_message" in joined  # the logs were captured
    for secret in (*SECRETS, password_of(database_url)):
        assert secret not in joined
    record_figures(
        f"crash-{backend}",
        lanes=len(lanes),
        trials=sum(lane.trials for lane in lanes),
        kills=sum(lane.killed for lane in lanes),
        killed_before_ready=sum(lane.killed_before_ready for lane in lanes),
        restarts=sum(lane.trials for lane in lanes) + len(lanes),
        acknowledged=len(acknowledged),
        messages_checked=len(recorded),
        events_checked=len(all_events(pipeline)),
        log_lines_checked=joined.count("\n"),
        lost=0,
        doubled=0,
    )


INGEST_CONVERSATIONS = 750  # 3,000 messages: 6 windows of 500, each one transaction
INGEST_TRIALS = 12


def test_kill_9_of_chatledger_ingest_then_a_rerun_records_each_message_once(
    open_pipeline: PipelineFactory,
    open_read_side: Callable[..., ReadSide],
    database_url: str,
    tmp_path: Path,
    backend: str,
    rng: random.Random,
) -> None:
    """The command itself (bulk: conversations in shared transactions), killed mid-way and run
    again on the same file: each message exactly once, every chain intact."""
    conversations = tmp_path / "conversations.jsonl"
    lines = [c.model_dump_json() for c in generate_conversations(INGEST_CONVERSATIONS)]
    conversations.write_text("\n".join(lines) + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "chatledger", "ingest",
               str(conversations), "--database-url", database_url, "--json"]  # fmt: skip
    killed, trials = 0, 0
    checker = open_pipeline()  # watches the log's head, to kill while the ingest commits
    recorded_after_each_kill: list[int] = []
    while (head := checker.recorder.max_notification_id() or 0) < 5 * INGEST_CONVERSATIONS:
        trials += 1
        assert trials <= INGEST_TRIALS, "the ingest never finished"
        with (tmp_path / f"ingest-{trials}.log").open("w") as log:
            ingest = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
            # Once this run's first window is in, at a random moment among the next ones.
            while ingest.poll() is None and (checker.recorder.max_notification_id() or 0) == head:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.1))
            ingest.send_signal(signal.SIGKILL)
            code = ingest.wait(timeout=60)
        assert code in (-signal.SIGKILL, 0), (tmp_path / f"ingest-{trials}.log").read_text()
        killed += code == -signal.SIGKILL
        recorded = message_events(checker)
        assert all(count == 1 for count in recorded.values()), recorded.most_common(2)
        # A window of conversations is one transaction: a chat is all there, or absent.
        per_chat = Counter(chat for _, chat, _ in recorded)
        assert set(per_chat.values()) <= {4}, per_chat.most_common(2)
        recorded_after_each_kill.append(len(recorded))
    assert killed >= 2, recorded_after_each_kill
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr[-2000:]
    totals = json.loads(finished.stdout.strip().splitlines()[-1])
    expected = 4 * INGEST_CONVERSATIONS
    assert (totals["recorded"] + totals["duplicates"], totals["failed"]) == (expected, 0)

    pipeline = open_pipeline()
    recorded = message_events(pipeline)
    assert len(recorded) == expected and set(recorded.values()) == {1}
    verified = CliRunner().invoke(app, ["verify", "--database-url", database_url, "--json"])
    assert verified.exit_code == 0, verified.output  # the operator's check agrees
    read_side = open_read_side(pipeline, catch_up_on_read=False)
    read_side.catch_up()
    assert actual_dumps(read_side) == expected_dumps(pipeline)
    record_figures(
        f"crash-ingest-command-{backend}", trials=trials, kills=killed, restarts=trials + 1,
        messages_checked=len(recorded), recorded_after_each_kill=recorded_after_each_kill,
        lost=0, doubled=0,
    )  # fmt: skip


def test_a_stream_cut_off_by_a_dying_process_is_visible_then_reaped(
    open_pipeline: PipelineFactory,
    open_read_side: Callable[..., ReadSide],
    database_url: str,
    tmp_path: Path,
) -> None:
    log_file = tmp_path / "hang.log"
    with log_file.open("w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.crash_worker", database_url, "--hang-mid-stream"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
        )  # fmt: skip
        assert worker.stdout is not None
        assert worker.stdout.readline().split() == ["opened", "cut-off", "s-cut"]
        worker.send_signal(signal.SIGKILL)
        assert worker.wait(timeout=30) == -signal.SIGKILL
    pipeline = open_pipeline()
    read_side = open_read_side(pipeline, catch_up_on_read=False)

    def shown() -> tuple[str, dict[str, int], list[str]]:
        read_side.catch_up()
        (row,) = read_side.messages.messages("cut-off")
        stats = read_side.get_message_persistence_stats(crash_worker.OWNER, chat_id="cut-off")
        assert stats.stats is not None
        trail = read_side.audit_trail(crash_worker.OWNER, chat_id="cut-off").records
        return row["status"], stats.stats.messages_by_status, [r["event_type"] for r in trail]

    # The opened stream is visible at once, in the log and in every read model.
    assert shown() == ("streaming", {"streaming": 1}, ["Started", "StreamOpened"])
    reaped = pipeline.reap_abandoned_streams(older_than=timedelta(0))
    assert reaped.reaped == [{"chat_id": "cut-off", "message_id": "s-cut"}]
    assert shown() == ("abandoned", {"abandoned": 1}, ["Started", "StreamOpened", "StreamFailed"])
    stats = read_side.get_message_persistence_stats(crash_worker.OWNER).stats
    assert stats is not None and stats.streaming.abandoned == 1
    assert stats.errors_by_code == {"STREAM_ABANDONED": 1}
    late = pipeline.complete_stream(StreamContext("cut-off", crash_worker.OWNER, "s-cut", None))
    assert late.error is not None and late.error.code == ErrorCode.STREAM_NOT_OPEN
    assert pipeline.reap_abandoned_streams(older_than=timedelta(0)).reaped == []
    assert actual_dumps(read_side) == expected_dumps(pipeline)
    assert crash_worker.PLANTED_CONTENT not in log_file.read_text()


def password_of(database_url: str) -> str:
    """The URL's password, or a string no log holds (SQLite has none)."""
    from urllib.parse import urlsplit

    return urlsplit(database_url).password or "\x00no password\x00"
