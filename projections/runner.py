"""Runs a projection over the application's notification log, in batches: catch up, follow,
rebuild. One mechanism for both backends (polling the log by position), because SQLite cannot
push notifications and because a poll never skips: positions become visible in order."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Notification, Tracking
from eventsourcing.projection import Projection

from chatledger.domain.unreadable_events import is_unreadable
from chatledger.projections.quarantine import quarantined
from chatledger.projections.views import PositionMovedError, ReadModelView

Progress = Callable[[int, int], None]  # (position reached, head)
# A batch staged elsewhere: what its `ready` gave (projections/batches.py), the events it
# quarantined (QuarantinedEvent.staged), and the position of its last event.
ReadyBatch = tuple[Any, list[tuple[Any, ...]], int]
# Stages the events after a position up to a head somewhere else (another process), in
# batches in log order: (projection name, position, head, batch size). It may stop early, or
# stage none at all; what it did not stage is caught up here.
ChangeMaker = Callable[[str, int, int, int], Generator[ReadyBatch, None, None]]


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    generation: int
    position: int
    head: int
    building: int | None
    building_position: int | None
    quarantined: int = 0  # events of the current generation skipped as unreadable

    @property
    def lag(self) -> int:
        return max(0, self.head - self.position)


@contextmanager
def _objects_alive_before_frozen() -> Iterator[None]:
    """A full collection walks every object of the process: 50-80 ms in the bench's, of about
    100,000 objects, and a rebuild's batches set one off every few seconds (a quarter of a
    12,100-event rebuild when one fell in it). Frozen (gc.freeze), the objects alive before the
    rebuild are left out of collections until it ends; what the rebuild makes is still
    collected. Freezing is process-wide: a rebuild in another thread that ends first unfreezes
    early, which costs only time."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class ProjectionRunner:
    """Applies new events to a projection's view; thread-safe (one batch at a time)."""

    def __init__(
        self,
        source: Application[Any],
        projection: Projection[Any],
        batch_size: int = 2000,
        change_maker: ChangeMaker | None = None,
    ):
        self.source = source
        self.projection = projection
        self.view: ReadModelView = projection.view
        self.batch_size = batch_size
        self.change_maker = change_maker
        self.lock = threading.Lock()

    def head(self) -> int:
        return self.source.recorder.max_notification_id() or 0

    def catch_up(self, generation: int | None = None, progress: Progress | None = None) -> int:
        """Apply every event recorded before the call; returns how many this call applied.

        Bounded by the head seen at the start, so that a query catching up for read-your-writes
        never chases a busy writer; events recorded meanwhile wait for the next call.
        """
        with self.lock:
            applied, head = 0, self.head()
            while True:
                target = generation or self.view.generations().current
                position = self.view.position(target)
                if position is None:  # the generation was switched away by a rebuild
                    if generation is not None:
                        raise PositionMovedError(f"generation {generation} no longer exists")
                    continue
                if position >= head:
                    return applied
                batch = self.source.recorder.select_notifications(
                    position + 1, self.batch_size, stop=head
                )
                if not batch:
                    return applied
                self.view.discard()
                self.stage(batch)
                try:
                    self.view.commit(target, position)
                except PositionMovedError:
                    continue  # another runner applied it: read the position again
                applied += len(batch)
                if progress:
                    progress(batch[-1].id, head)

    def stage(self, batch: Sequence[Notification]) -> None:
        """Have the projection stage each event's change in the view; an event that cannot be
        decoded or applied is quarantined instead (a database error still stops the batch)."""
        # Bound once per batch: this loop runs once per event of every rebuild.
        to_domain_event = self.source.mapper.to_domain_event
        process_event = self.projection.process_event
        name = self.source.name
        for notification in batch:
            tracking = Tracking(name, notification.id)
            try:
                process_event(to_domain_event(notification), tracking)
            except Exception as error:
                if not is_unreadable(error):
                    raise
                self.view.quarantine(quarantined(self.view.name, notification, error), tracking)

    def follow(self, stop: threading.Event, poll_seconds: float = 0.2) -> None:
        """Keep the view current until `stop` is set."""
        while not stop.is_set():
            if self.catch_up() == 0:
                stop.wait(poll_seconds)

    def rebuild(self, progress: Progress | None = None, *, restart: bool = False) -> int:
        """Replay from the first event into a new generation while the current one keeps
        answering, then switch over in one step. An interrupted rebuild resumes."""
        generation = self.view.start_generation(restart=restart)
        with _objects_alive_before_frozen():
            if self.change_maker is not None:
                self.apply_changes_made_elsewhere(generation, progress)
            self.catch_up(generation, progress)
        self.view.switch_to(generation)
        return generation

    def apply_changes_made_elsewhere(self, generation: int, progress: Progress | None) -> None:
        """Commit what the change maker staged, batch by batch, each with its tracking position
        in the same transaction as here: decoding, unsealing and staging run in another
        process while this one writes. A batch that another runner applied first ends it;
        catch_up then goes on from wherever the view's position is."""
        assert self.change_maker is not None
        with self.lock:
            head, position = self.head(), self.view.position(generation)
            if position is None or position >= head:
                return
            batches = self.change_maker(self.view.name, position, head, self.batch_size)
            name = self.source.name
            with closing(batches):  # stops the other process wherever this ends
                for ready, skipped, last_position in batches:
                    self.view.discard()
                    self.view.adopt(ready, skipped, Tracking(name, last_position))
                    try:
                        self.view.commit(generation, position)
                    except PositionMovedError:
                        return
                    position = last_position
                    if progress:
                        progress(position, head)

    def status(self) -> ProjectionStatus:
        generations = self.view.generations()
        building = generations.building
        return ProjectionStatus(
            name=self.view.name,
            generation=generations.current,
            position=self.view.position(generations.current) or 0,
            head=self.head(),
            building=building,
            building_position=self.view.position(building) if building else None,
            quarantined=self.view.quarantined_count(generations.current),
        )
