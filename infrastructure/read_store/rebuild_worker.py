"""A rebuild's per-event Python in other processes, so that a rebuild uses every core.

Rebuilding a projection is, per event, reading and decoding it, unsealing its content and
building its row (Python, one interpreter lock), then inserting and committing (mostly the
database). Here worker processes do the first part and send each batch staged and ready to
write (projections/batches.py) through a pipe, while the rebuilding process inserts and commits
the batches with their tracking positions, as it always does: exactly once, resumable, and
the same rows.

Workers are forked where that is safe: the rebuilding process runs no other thread (a fork
copies locks that another thread may hold, the database drivers' among them). Where another
thread runs (PostgreSQL's connection pool has its own), they are forked from a fork server, a
fresh interpreter started once per process, which pays only on longer logs. Below those
sizes, and whenever a worker stops, the rebuild goes on in its own process from where it got
to. The workers take turns over ranges of positions, so their batches arrive in log order.
"""

from __future__ import annotations

import gc
import marshal
import multiprocessing
import os
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import structlog
from eventsourcing.persistence import Tracking

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.processes.forking import fork_is_safe
from chatledger.infrastructure.settings import Settings
from chatledger.projections.projections import build_projection
from chatledger.projections.quarantine import QuarantinedEvent
from chatledger.projections.runner import ProjectionRunner, ReadyBatch
from chatledger.projections.views import BATCH_TYPES

# Starting a worker (a fork, connections, keys) takes about a millisecond, and each worker
# pays off once it makes a full batch (2,000 events) of its own. Measured on two cores: 4,900
# events rebuilt at 39,000-43,000 events/s with workers and 28,000-33,500 without; 2,500
# events at 22,000-27,600 with and 22,000-32,000 without.
MIN_EVENTS = 4_000
# A fork server starts in about a second (a fresh interpreter importing ChatLedger), once per
# process. PostgreSQL, 120,100 events, messages: 14,200-15,100 events/s in one process,
# 24,500-30,700 with workers from a fork server.
MIN_EVENTS_WITHOUT_FORK = 40_000

MAX_WORKERS = 4

log = structlog.get_logger("chatledger.rebuild")


@dataclass(frozen=True)
class ChangesInAnotherProcess:
    """A ChangeMaker (projections.runner) that stages the batches in worker processes."""

    settings: Settings
    # How a worker opens its own pipeline: bootstrap, passed in by the wiring that imports this.
    open_pipeline: Callable[[Settings], PersistencePipeline]
    min_events: int = MIN_EVENTS
    start_method: str | None = None  # None: as start_method() says; tests choose spawn
    # Processes making changes: with two, the per-event Python of a messages rebuild kept
    # pace with the writing process on two cores; more than the cores is no use.
    workers: int = field(default_factory=lambda: min(MAX_WORKERS, os.cpu_count() or 1))

    def __call__(
        self, name: str, position: int, head: int, batch_size: int
    ) -> Generator[ReadyBatch, None, None]:
        method = self.start_method or start_method(head - position, self.min_events)
        if method is None or head - position < self.min_events:
            return
        context: Any = multiprocessing.get_context(method)
        if method == "forkserver":
            # The server imports what a worker runs (the wiring, which imports this module) once;
            # each worker is a fork of it, started in milliseconds for every rebuild after.
            context.set_forkserver_preload(["chatledger.infrastructure.bootstrap"])
        workers: list[tuple[Any, Connection]] = []
        try:
            for index in range(self.workers):
                reader, writer = context.Pipe(duplex=False)
                plan = _Plan(name, position, head, batch_size, index, self.workers)
                worker = context.Process(
                    target=_make_changes, name=f"rebuild-{name}-{index}",
                    args=(self.open_pipeline, self.settings, plan, writer),
                )  # fmt: skip
                worker.start()
                writer.close()  # the worker holds the only writing end: its exit ends the pipe
                workers.append((worker, reader))
            # Range r of the log is worker r % workers's: taken in turn, they come in log order.
            for turn in range(_Plan(name, position, head, batch_size, 0, 1).ranges()):
                worker, reader = workers[turn % len(workers)]
                try:
                    # Bytes from our own worker, through a pipe only it writes to.
                    batch = marshal.loads(reader.recv_bytes())  # noqa: S302
                except EOFError:
                    log.warning("rebuild_worker_stopped", projection=name,
                                exit_code=worker.exitcode)  # fmt: skip
                    return
                if batch is not None:
                    yield batch
        finally:
            for worker, reader in workers:
                reader.close()
                if worker.is_alive():  # the rebuild ended first (another runner, an error)
                    worker.terminate()
                worker.join()


@dataclass(frozen=True)
class _Plan:
    """Which ranges of positions a worker makes: position ranges of `size`, after `position`
    up to `head`, every `workers`-th from range `index` on."""

    name: str
    position: int
    head: int
    size: int
    index: int
    workers: int

    def ranges(self) -> int:
        return -(-(self.head - self.position) // self.size)

    def mine(self) -> range:
        return range(self.index, self.ranges(), self.workers)


def start_method(events: int, min_events: int = MIN_EVENTS) -> str | None:
    """How workers start for a rebuild of `events` events, if they pay: with a second core to
    use, forked where that is safe, else from a fork server on longer logs."""
    if (os.cpu_count() or 1) < 2 or events < min_events:
        return None
    if fork_is_safe():
        return "fork"
    return "forkserver" if events >= max(min_events, MIN_EVENTS_WITHOUT_FORK) else None


class _Collector:
    """Stands in for the view in the worker: stages into a batch of the view's kind."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.batch_type = BATCH_TYPES[name]
        self.start()

    def start(self) -> None:
        self.batch = self.batch_type()
        self.quarantined: list[tuple[Any, ...]] = []
        self.last_position: int | None = None

    def stage(self, change: Any, tracking: Tracking) -> None:
        self.batch.stage(change)
        self.last_position = tracking.notification_id

    def quarantine(self, event: QuarantinedEvent, tracking: Tracking) -> None:
        self.quarantined.append(event.staged())
        self.last_position = tracking.notification_id

    def take(self) -> ReadyBatch | None:
        """The batch staged since the last take, ready to send (None: the range was empty)."""
        last_position = self.last_position
        ready = (
            None if last_position is None else (self.batch.ready(), self.quarantined, last_position)
        )
        self.start()
        return ready


def _make_changes(
    open_pipeline: Callable[[Settings], PersistencePipeline],
    settings: Settings,
    plan: _Plan,
    batches: Connection,
) -> None:
    """A worker: its own connections and keys; one batch per range of its plan, in order
    (None where the range holds no event). Batches go marshalled, not pickled: both ends run
    the same interpreter, and a batch's plain values (projections/batches.py) marshal in a
    seventh of the time pickle takes (2,000 message rows: 0.6 us a row against 4.3; loading
    1.0 against 2.0), since pickle keeps a memo of every string it writes."""
    # Staging makes no reference cycles (a collection after staging a 56,320-event log
    # found nothing to free, for each projection), so the cycle collector only costs here:
    # its passes over each batch's objects were 6% of a worker's time (gc.callbacks).
    gc.disable()
    pipeline = open_pipeline(settings)
    try:
        collector = _Collector(plan.name)
        runner = ProjectionRunner(pipeline, build_projection(collector, pipeline.protector))
        for number in plan.mine():
            low = plan.position + number * plan.size
            high = min(low + plan.size, plan.head)
            events = pipeline.recorder.select_notifications(low + 1, plan.size, stop=high)
            runner.stage(events)
            batches.send_bytes(marshal.dumps(collector.take()))
    finally:
        batches.close()
        pipeline.close()
