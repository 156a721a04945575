"""The fault tests' side of tests/durability_worker.py: the writer process, its history as the
clients told it, and the check of that history against the log after a crash (Jepsen-style:
an acknowledged write is in the log exactly once, a write of unknown outcome at most once,
nothing is doubled, every failure was a coded error)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chatledger.domain.chain import find_broken_link
from chatledger.domain.chat import Chat
from chatledger.domain.errors import ErrorCode
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.projections.read_side import ReadSide
from tests import durability_worker

ROOT = Path(__file__).resolve().parent.parent
CHATS = 8
CLIENTS = 16


@dataclass
class History:
    """Every attempt of every message, as the clients wrote it before they could be killed."""

    attempts: Counter[str] = field(default_factory=Counter)
    acknowledged: set[str] = field(default_factory=set)  # ok or duplicate: the call succeeded
    duplicates: int = 0  # retries answered "recorded before": the earlier attempt got through
    failure_codes: Counter[str] = field(default_factory=Counter)
    failure_causes: Counter[str] = field(default_factory=Counter)  # the exceptions' types
    exceptions: list[str] = field(default_factory=list)
    open_attempts: dict[str, int] = field(default_factory=dict)  # invoked, not yet answered
    unknown: set[str] = field(default_factory=set)  # answered never: its process was killed
    cut_off: int = 0  # attempts of unknown outcome
    rounds_ended: set[int] = field(default_factory=set)

    def take(self, line: str) -> None:
        kind, *rest = line.split()
        if kind == "invoke":
            self.attempts[rest[0]] += 1
            self.open_attempts[rest[0]] = self.open_attempts.get(rest[0], 0) + 1
        elif kind in ("ok", "duplicate", "fail", "exception"):
            self.open_attempts[rest[0]] -= 1
            if not self.open_attempts[rest[0]]:
                del self.open_attempts[rest[0]]
            if kind in ("ok", "duplicate"):
                self.acknowledged.add(rest[0])
                self.duplicates += kind == "duplicate"
            elif kind == "fail":
                self.failure_codes[rest[1]] += 1
                self.failure_causes[rest[2]] += 1
            else:
                self.exceptions.append(f"{rest[0]}: {rest[1]}")
        elif kind == "round-end":
            self.rounds_ended.add(int(rest[0]))

    def process_died(self) -> set[str]:
        """Attempts still open were cut off: their outcome is unknown. Returns their ids."""
        cut_off = set(self.open_attempts)
        self.unknown |= cut_off
        self.cut_off += sum(self.open_attempts.values())
        self.open_attempts.clear()
        return cut_off

    def unsettled(self) -> list[str]:
        """Invoked, never acknowledged: the next round retries them with the same ids."""
        return sorted(set(self.attempts) - self.acknowledged)


class Writer:
    """The worker process and the thread that reads its history."""

    def __init__(self, database_url: str, history: History, log: Path) -> None:
        self.history = history
        self.changed = threading.Condition()
        self.acks = 0
        self.ready = False
        self.ended = False
        with log.open("ab") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.durability_worker", database_url,
                 "--clients", str(CLIENTS), "--chats", str(CHATS)],
                cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                text=True, bufsize=1,
            )  # fmt: skip
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if not line.endswith("\n"):
                break  # cut off mid-line by the kill: it never reached the client either
            with self.changed:
                if line.startswith("ready"):
                    self.ready = True
                else:
                    self.history.take(line)
                    self.acks += line.startswith(("ok", "duplicate"))
                self.changed.notify_all()
        with self.changed:
            self.ended = True  # the worker exited, or was killed
            self.changed.notify_all()

    def wait_until(self, reached: Callable[[], bool], timeout: float = 60.0) -> bool:
        """True once `reached()`, False if the worker exited or the timeout passed first."""
        with self.changed:
            self.changed.wait_for(lambda: reached() or self.ended, timeout)
            return reached()

    def until_acknowledged(self, acks: int) -> bool:
        return self.wait_until(lambda: self.acks >= acks)

    def until_round_ended(self, number: int) -> bool:
        return self.wait_until(lambda: number in self.history.rounds_ended)

    def until_acknowledged_or_ended(self, acks: int, number: int) -> bool:
        """True when the `acks`-th acknowledgement came, False when the round ended first."""
        self.wait_until(lambda: self.acks >= acks or number in self.history.rounds_ended)
        return self.acks >= acks

    def start_round(self, number: int, messages: int, retried: list[str]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(" ".join(["round", str(number), str(messages), *retried]) + "\n")
        self.process.stdin.flush()

    def kill(self) -> set[str]:
        """SIGKILL; the ids whose attempt it cut off."""
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(timeout=30) == -signal.SIGKILL
        self.reader.join(timeout=30)
        return self.history.process_died()

    def finish(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        code = self.process.wait(timeout=60)
        self.reader.join(timeout=30)
        return code


@dataclass
class Checked:
    recorded: set[str]  # the message ids in the log (each once)
    failed_present: set[str]  # writes whose every attempt failed, yet in the log (once)


def check_against_the_log(
    history: History, pipeline: PersistencePipeline, read_side: ReadSide
) -> Checked:
    """Acknowledged: exactly once. Anything else: at most once. Every chain intact, every
    failure a coded PERSISTENCE_ERROR, never an exception, and each recorded message exactly
    once in the message table once it caught up."""
    recorded: Counter[str] = Counter()
    for chat in range(CHATS):
        chat_id = f"durable-{chat}"
        events = list(pipeline.events.get(chat_id))
        assert find_broken_link(chat_id, events) is None, chat_id
        versions = [event.originator_version for event in events]
        assert versions == list(range(1, len(events) + 1)), chat_id
        for event in events:
            if isinstance(event, Chat.UserMessageRecorded):
                recorded[event.message_id] += 1
                assert event.originator_id == durability_worker.chat_of(
                    durability_worker.client_of(event.message_id), CHATS
                )
    doubled = [ident for ident, times in recorded.items() if times > 1]
    lost = [ident for ident in history.acknowledged if recorded[ident] != 1]
    assert (doubled, lost) == ([], []), f"doubled {doubled[:5]}, lost {lost[:5]}"
    assert set(recorded) <= set(history.attempts), "a message nobody sent"
    assert history.exceptions == [], history.exceptions[:5]
    assert set(history.failure_codes) <= {ErrorCode.PERSISTENCE_ERROR.value}, history.failure_codes
    read_side.catch_up()
    rows: Counter[str] = Counter()
    for chat in range(CHATS):
        rows.update(row["message_id"] for row in read_side.messages.messages(f"durable-{chat}"))
    assert rows == recorded, "the message table differs from the log"
    not_acknowledged = set(recorded) - history.acknowledged
    return Checked(set(recorded), failed_present=not_acknowledged - history.unknown)
