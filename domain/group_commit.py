"""Concurrent appends in one process: a lock per chat, and group commit across chats."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Submission:
    """One caller's new events, and what became of them."""

    events: Sequence[Any]
    done: bool = False
    error: Exception | None = None
    batch_size: int = 0
    # Set when the submission is settled, or when its caller is to lead the next round.
    wakeup: threading.Event = field(default_factory=threading.Event)


class GroupCommit:
    """One transaction per round for every caller waiting, without a timer or a thread.

    The first caller to find no commit in flight leads: it records everybody waiting as one
    transaction while newcomers queue for the next round, then hands the lead to the first of
    them. A single caller pays nothing extra; sixteen share one commit (and one fsync) instead
    of queueing for sixteen. Each waiter sleeps on its own event, so a round wakes only the
    callers it settled. When a shared transaction fails, nothing of it was written, and each
    submission is recorded again alone, so that one caller's conflict or bad event never fails
    another caller's message; a failure of the store itself fails the round's callers at once.
    """

    def __init__(
        self,
        record: Callable[[Sequence[Any]], object],
        shared_failures: tuple[type[Exception], ...] = (),
    ) -> None:
        self.record = record
        # Failures of the store itself (server gone, lock timeout), which recording each
        # submission again alone would only repeat, once per caller, each after its timeout.
        self.shared_failures = shared_failures
        self.lock = threading.Lock()
        self.waiting: list[Submission] = []
        self.committing = False
        # Told of every round recorded (how many callers shared it, which events): metrics.
        self.on_recorded: Callable[[int, Sequence[Any]], None] | None = None

    def commit(self, events: Sequence[Any]) -> int:
        """Record the events in one transaction, perhaps shared; returns the round's size.

        Raises what recording them alone would raise.
        """
        mine = Submission(events)
        with self.lock:
            leading = not self.committing
            if leading:
                self.committing = True
            else:
                self.waiting.append(mine)
        if not leading:
            mine.wakeup.wait()
        if not mine.done:  # leading: this round takes everybody waiting
            with self.lock:
                batch = [mine, *(s for s in self.waiting if s is not mine)]
                self.waiting = []
            self.lead(batch)
        if mine.error is not None:
            raise mine.error
        return mine.batch_size

    def lead(self, batch: list[Submission]) -> None:
        try:
            self.record_round(batch)
        finally:
            # Interrupted mid-round (KeyboardInterrupt): nobody may take silence for success.
            unsettled = [s for s in batch if not s.done]
            self.settle(unsettled, RuntimeError("the shared commit was interrupted"))
            with self.lock:
                successor = self.waiting[0] if self.waiting else None
                self.committing = successor is not None
            if successor is not None:
                successor.wakeup.set()

    def record_round(self, batch: list[Submission]) -> None:
        events = [event for submission in batch for event in submission.events]
        try:
            self.record(events)
        except Exception as error:
            if len(batch) == 1 or isinstance(error, self.shared_failures):
                self.settle(batch, error)
                return
            for submission in batch:
                self.record_alone(submission)
            return
        self.tell(len(batch), events)
        self.settle(batch, None)

    def record_alone(self, submission: Submission) -> None:
        try:
            self.record(submission.events)
        except Exception as error:
            self.settle([submission], error)
        else:
            self.tell(1, submission.events)
            self.settle([submission], None)

    def tell(self, callers: int, events: Sequence[Any]) -> None:
        if self.on_recorded is not None:
            with contextlib.suppress(Exception):  # a metric never fails a commit
                self.on_recorded(callers, events)

    @staticmethod
    def settle(batch: list[Submission], error: Exception | None) -> None:
        for submission in batch:
            submission.error, submission.batch_size = error, len(batch)
            submission.done = True
            submission.wakeup.set()


class ChatLocks:
    """A lock per chat in use: threads take turns on one chat, and never wait for another's."""

    def __init__(self) -> None:
        self.guard = threading.Lock()
        self.in_use: dict[str, tuple[threading.Lock, list[int]]] = {}

    @contextmanager
    def holding(self, chat_id: str) -> Iterator[None]:
        with self.guard:
            lock, users = self.in_use.setdefault(chat_id, (threading.Lock(), [0]))
            users[0] += 1
        try:
            with lock:
                yield
        finally:
            with self.guard:
                users[0] -= 1
                if not users[0]:
                    del self.in_use[chat_id]
