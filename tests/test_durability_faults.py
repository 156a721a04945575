"""Acknowledged means durable: 16 clients persist through one Ledger's group commit while the
store's process is SIGKILLed (the PostgreSQL postmaster; the SQLite writer itself), 20 rounds
per backend. After every round the clients' history is checked against the log: each write
whose call returned success is there exactly once, a write cut off by the kill at most once,
nothing twice, every failure a coded PERSISTENCE_ERROR, every chain intact, the message table
equal to the log. Retries with the same ids settle every write in the end."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from chatledger.infrastructure.bootstrap import bootstrap, build_read_side
from chatledger.infrastructure.settings import Settings
from chatledger.infrastructure.tokenizer.tiktoken_counter import TiktokenCounter
from tests.durability_history import CLIENTS, Checked, History, Writer, check_against_the_log
from tests.own_postgres import KillablePostmaster, OwnCluster
from tests.read_model_oracle import actual_dumps, expected_dumps
from tests.reliability_figures import record_figures

pytestmark = pytest.mark.slow
ROUNDS = 20
MESSAGES = 8  # per client and round: 128 new writes a round, plus the last round's unsettled
WRITES = CLIENTS * MESSAGES


@dataclass
class Trial:
    """What the rounds saw, for the assertions and the figures."""

    url: str
    token_counter: TiktokenCounter
    history: History = field(default_factory=History)
    kills: int = 0
    killed_mid_round: int = 0
    acknowledged_checks: int = 0  # acknowledged writes looked up in the log, summed over checks
    unknown_present: int = 0  # writes cut off by a kill, found in the log (once) after it
    failed_present: set[str] = field(default_factory=set)  # told "failed", in the log (once)
    restart_s: list[float] = field(default_factory=list)  # from SIGKILL to accepting connections
    first_ack_s: list[float] = field(default_factory=list)  # from then to a write acknowledged

    def check(self, cut_off: set[str] | None = None) -> Checked:
        """Against the log as a new process sees it (the writer's connections may be dead);
        `cut_off`: the writes whose attempt a kill interrupted."""
        settings = Settings(database_url=self.url, postgres_pool_size=3)
        pipeline = bootstrap(settings, token_counter=self.token_counter)
        read_side = build_read_side(settings, pipeline, catch_up_on_read=False)
        try:
            checked = check_against_the_log(self.history, pipeline, read_side)
        finally:
            read_side.close()
            pipeline.close()
        self.acknowledged_checks += len(self.history.acknowledged)
        self.unknown_present += len((cut_off or set()) & checked.recorded)
        self.failed_present |= checked.failed_present
        return checked

    def settle(self, writer: Writer, number: int) -> None:
        """A last round without a fault: every unsettled write retried, each acknowledged."""
        writer.start_round(number, 0, self.history.unsettled())
        assert writer.until_round_ended(number), "the writer died"
        assert writer.finish() == 0
        assert self.history.unsettled() == []
        self.check()

    def assert_read_models_equal_the_log(self) -> None:
        settings = Settings(database_url=self.url, postgres_pool_size=3)
        pipeline = bootstrap(settings, token_counter=self.token_counter)
        read_side = build_read_side(settings, pipeline, catch_up_on_read=False)
        try:
            read_side.catch_up()
            assert actual_dumps(read_side) == expected_dumps(pipeline)
            verified = read_side.verify()
            assert verified.intact and verified.chats >= 8, verified
        finally:
            read_side.close()
            pipeline.close()

    def figures(self, killed: str) -> dict[str, Any]:
        return {
            "killed": killed, "rounds": ROUNDS,
            "clients": CLIENTS, "kills": self.kills, "killed_mid_round": self.killed_mid_round,
            "writes": len(self.history.attempts),
            "attempts": sum(self.history.attempts.values()),
            "acknowledged": len(self.history.acknowledged),
            "acknowledged_checks": self.acknowledged_checks,
            "unknown_outcomes": self.history.cut_off,
            "unknown_then_present": self.unknown_present,
            "failed_then_present": len(self.failed_present),
            "retries_answered_duplicate": self.history.duplicates,
            "failures_by_code": dict(self.history.failure_codes),
            "failures_by_cause": dict(self.history.failure_causes),
            "lost": 0, "doubled": 0,
        }  # fmt: skip


StartWriter = Callable[[str, History], Writer]


@pytest.fixture
def start_writer(tmp_path: Path) -> Iterator[StartWriter]:
    """Writer processes, each ready to take rounds; none outlives the test."""
    started: list[Writer] = []

    def start(url: str, history: History) -> Writer:
        writer = Writer(url, history, tmp_path / "writer.log")
        started.append(writer)
        assert writer.wait_until(lambda: writer.ready), (tmp_path / "writer.log").read_text()[
            -2000:
        ]
        return writer

    yield start
    for writer in started:
        if writer.process.poll() is None:
            writer.process.kill()
            writer.process.wait()


def test_sigkill_of_the_sqlite_writer_loses_and_doubles_nothing(
    start_writer: StartWriter, tmp_path: Path, token_counter: TiktokenCounter, rng: random.Random
) -> None:
    trial = Trial(f"sqlite:///{tmp_path}/ledger.sqlite", token_counter)
    for number in range(1, ROUNDS + 1):
        writer = start_writer(trial.url, trial.history)
        writer.start_round(number, MESSAGES, trial.history.unsettled())
        kill_at = rng.randint(1, WRITES - 1)
        writer.until_acknowledged(kill_at)
        time.sleep(rng.uniform(0, 0.005))  # the clients keep writing meanwhile
        trial.killed_mid_round += number not in trial.history.rounds_ended
        cut_off = writer.kill()  # the restart is the next round's writer, on the same file
        trial.kills += 1
        trial.check(cut_off)
    trial.settle(start_writer(trial.url, trial.history), ROUNDS + 1)
    trial.assert_read_models_equal_the_log()
    assert trial.killed_mid_round >= ROUNDS // 2, "the kills came too late to test anything"
    record_figures("durability-sqlite", **trial.figures("the writer process"))


@pytest.fixture
def postmaster() -> Iterator[KillablePostmaster]:
    """A cluster of the test's own (never the shared one), its server to kill."""
    cluster = OwnCluster.start_new_or_skip()
    with psycopg.connect(cluster.url, autocommit=True) as connection:
        # Crash recovery first syncs the data directory: one syncfs() rather than an fsync()
        # per file (1,000 files, 1 to 5 s here). The same durability, a tenth of the wait.
        connection.execute("ALTER SYSTEM SET recovery_init_sync_method = 'syncfs'")
    server = KillablePostmaster(cluster)
    yield server
    server.stop()
    cluster.remove()


def test_sigkill_of_the_postgres_server_loses_and_doubles_nothing(
    postmaster: KillablePostmaster,
    start_writer: StartWriter,
    tmp_path: Path,
    token_counter: TiktokenCounter,
    rng: random.Random,
) -> None:
    trial = Trial(postmaster.cluster.url, token_counter)
    writer = start_writer(trial.url, trial.history)
    for number in range(1, ROUNDS + 1):
        writer.start_round(number, MESSAGES, trial.history.unsettled())
        kill_at = writer.acks + rng.randint(1, WRITES - 1)
        writer.until_acknowledged(kill_at)
        time.sleep(rng.uniform(0, 0.005))
        trial.killed_mid_round += number not in trial.history.rounds_ended
        killed, acks = time.monotonic(), writer.acks
        postmaster.kill()
        trial.kills += 1
        postmaster.start()  # the clients retry meanwhile, and go on once it is back
        restarted = time.monotonic()
        trial.restart_s.append(restarted - killed)
        if writer.until_acknowledged_or_ended(acks + 1, number):
            trial.first_ack_s.append(time.monotonic() - restarted)
        assert writer.until_round_ended(number), (tmp_path / "writer.log").read_text()[-2000:]
        trial.check()
    trial.settle(writer, ROUNDS + 1)
    trial.assert_read_models_equal_the_log()
    assert trial.killed_mid_round >= ROUNDS // 2, "the kills came too late to test anything"
    record_figures(
        "durability-postgres", **trial.figures("the postmaster"),
        slowest_restart_s=round(max(trial.restart_s), 2),
        slowest_first_ack_after_restart_s=round(max(trial.first_ack_s), 2),
    )  # fmt: skip
