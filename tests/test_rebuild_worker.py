"""A rebuild that makes its changes in a second process gives what a rebuild in one process
gives (the oracle computed from the events): sealed content unsealed, an erasure in the middle
applied, every event exactly once; when the second process stops or dies mid-way, the rebuild
finishes by itself. Both backends."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Generator
from multiprocessing import active_children

import pytest

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.bootstrap import bootstrap
from chatledger.infrastructure.processes.forking import fork_is_safe
from chatledger.infrastructure.read_store.rebuild_worker import (
    MIN_EVENTS,
    MIN_EVENTS_WITHOUT_FORK,
    ChangesInAnotherProcess,
    start_method,
)
from chatledger.infrastructure.settings import Settings
from chatledger.projections.read_side import ReadSide
from chatledger.projections.runner import ChangeMaker, ReadyBatch
from tests.read_model_oracle import actual_dumps, expected_dumps
from tests.test_read_models import conversation


def history(pipeline: PersistencePipeline, read_side: ReadSide) -> None:
    """Both users' messages, alice erased half-way, more of bob's after."""
    conversation(pipeline)
    for n in range(20):
        assert pipeline.persist_user_message(
            "c-b", "bob", f"before {n} ✓", message_id=f"p{n}"
        ).success
    assert read_side.erase_user("alice", reason="test", requested_by="dpo").success
    for n in range(20):
        assert pipeline.persist_user_message("c-b", "bob", f"after {n}", message_id=f"q{n}").success


class Batches:
    """Counts the batches the second process made; may stop taking them, or kill it."""

    def __init__(self, maker: ChangeMaker, stop_after: int | None = None, kill: bool = False):
        self.maker, self.stop_after, self.kill = maker, stop_after, kill
        self.taken = 0

    def __call__(
        self, name: str, position: int, head: int, size: int
    ) -> Generator[ReadyBatch, None, None]:
        for batch in self.maker(name, position, head, size):
            if self.taken == self.stop_after:
                if not self.kill:
                    return  # the rebuild takes no more from it: the worker is stopped
                for child in active_children():
                    os.kill(child.pid or 0, signal.SIGKILL)
            self.taken += 1
            yield batch


@pytest.mark.parametrize(
    ("stop_after", "kill", "method"),
    [(None, False, "spawn"), (None, False, "forkserver"), (2, False, "spawn"), (2, True, "spawn")],
    ids=["all", "all-from-a-fork-server", "stopped", "killed"],
)
def test_a_rebuild_with_a_second_process_equals_the_oracle(
    database_url: str,
    pipeline: PersistencePipeline,
    open_read_side: Callable[..., ReadSide],
    stop_after: int | None,
    kill: bool,
    method: str,
) -> None:
    history(pipeline, open_read_side(pipeline))
    # Not fork: pytest runs threads of its own, and the rows must not depend on how the
    # worker started.
    maker = ChangesInAnotherProcess(
        Settings(database_url=database_url), bootstrap, min_events=0, start_method=method
    )
    batches = Batches(maker, stop_after, kill)
    read_side = open_read_side(pipeline, change_maker=batches, batch_size=8)

    for name in read_side.runners:
        read_side.rebuild(name)

    assert actual_dumps(read_side) == expected_dumps(pipeline)
    # Killed, it may have sent a batch or two more before it died; they count all the same.
    assert batches.taken > 2 if not stop_after or kill else batches.taken == stop_after
    assert not active_children()


def test_workers_fork_where_that_is_safe_else_start_from_a_fork_server_on_long_logs(
    database_url: str,
    pipeline: PersistencePipeline,
    open_read_side: Callable[..., ReadSide],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # the same answers on a machine of one core
    history(pipeline, open_read_side(pipeline))
    settings = Settings(database_url=database_url)
    short = ChangesInAnotherProcess(settings, bootstrap)("messages", 0, 3_000, 2000)
    assert list(short) == []
    # Another thread runs (a server's, a reader's): a fork could copy a lock it holds. Workers
    # then start from a fork server, which pays only on longer logs.
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        forkable = ChangesInAnotherProcess(settings, bootstrap, min_events=0)
        assert list(forkable("messages", 0, 10_000, 2000)) == []
        assert start_method(MIN_EVENTS_WITHOUT_FORK - 1) is None
        assert start_method(MIN_EVENTS_WITHOUT_FORK) == "forkserver"
    finally:
        stop.set()
        other.join()
    # (PostgreSQL's pool runs threads of its own: no fork there.)
    assert start_method(MIN_EVENTS) == ("fork" if fork_is_safe() else None)
    assert start_method(MIN_EVENTS - 1) is None
    monkeypatch.setattr(os, "cpu_count", lambda: 1)  # no second core to use
    assert start_method(10 * MIN_EVENTS_WITHOUT_FORK) is None
