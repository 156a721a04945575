"""Concurrent appends in one process: a lock per chat, and group commit across chats."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(eq=False)
class Submission:
    """One caller's new events, and what became of them."""

    events: Sequence[Any]
    done: bool = False
    error: Exception | None = None
    batch_size: int = 0


class GroupCommit:
    """One transaction per round for every caller waiting, without a timer or a thread.

    The first caller to find no commit in flight leads: it records everybody waiting as one
    transaction while newcomers queue for the next round. A single caller pays nothing extra;
    sixteen share one commit (and one fsync) instead of queueing for sixteen. When a shared
    transaction fails, nothing of it was written, and each submission is recorded again alone,
    so that one caller's conflict or bad event never fails another caller's message.
    """

    def __init__(self, record: Callable[[Sequence[Any]], object]) -> None:
        self.record = record
        self.condition = threading.Condition()
        self.waiting: list[Submission] = []
        self.committing = False

    def commit(self, events: Sequence[Any]) -> int:
        """Record the events in one transaction, perhaps shared; returns the round's size.

        Raises what recording them alone would raise.
        """
        mine = Submission(events)
        with self.condition:
            self.waiting.append(mine)
            while self.committing and not mine.done:
                self.condition.wait()
            if not mine.done:
                self.committing = True
                batch, self.waiting = self.waiting, []
        if not mine.done:
            try:
                self.record_round(batch)
            finally:
                # Interrupted mid-round (KeyboardInterrupt): nobody may take silence for success.
                unsettled = [s for s in batch if not s.done]
                self.settle(unsettled, RuntimeError("the shared commit was interrupted"))
                with self.condition:
                    self.committing = False
                    self.condition.notify_all()
        if mine.error is not None:
            raise mine.error
        return mine.batch_size

    def record_round(self, batch: list[Submission]) -> None:
        try:
            self.record([event for submission in batch for event in submission.events])
        except Exception as error:
            if len(batch) == 1:
                self.settle(batch, error)
                return
            for submission in batch:
                self.record_alone(submission)
            return
        self.settle(batch, None)

    def record_alone(self, submission: Submission) -> None:
        try:
            self.record(submission.events)
        except Exception as error:
            self.settle([submission], error)
        else:
            self.settle([submission], None)

    @staticmethod
    def settle(batch: list[Submission], error: Exception | None) -> None:
        for submission in batch:
            submission.error, submission.batch_size = error, len(batch)
            submission.done = True


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
