"""The read models' abstract interfaces; infrastructure implements them per backend.

Each view keeps its tables in generations: queries read the current generation, a rebuild fills
the next one and switches over in one step. A view records the position of the last event it
applied (per generation) in the same transaction as the changes, and only if the position is
still the one the batch started from: an event is applied exactly once, even with two runners.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from eventsourcing.persistence import Tracking, TrackingRecorder

from chatledger.projections.batches import AuditBatch, Batch, MessageBatch, StatBatch
from chatledger.projections.listing import MessageFilter
from chatledger.projections.quarantine import QuarantinedEvent
from chatledger.projections.rows import AuditEntry


class PositionMovedError(Exception):
    """Another runner applied events to this generation first; reload the position and retry."""


@dataclass(frozen=True)
class Generations:
    current: int
    building: int | None


class ReadModelView(TrackingRecorder, ABC):
    name: ClassVar[str]
    batch_type: ClassVar[type[Batch]]
    batch: Batch  # what the projection staged since the last commit
    adopted: Any  # or what another process staged (see adopt)
    # The events of the batch that could not be decoded or applied (Quarantined.staged form):
    # written with it, in the same transaction, so that they are skipped exactly once too.
    quarantined: list[tuple[Any, ...]]
    last_tracking: Tracking | None

    def __init__(self) -> None:
        self.discard()

    # -- generations and positions ---------------------------------------------------------

    @abstractmethod
    def generations(self) -> Generations: ...

    @abstractmethod
    def position(self, generation: int) -> int | None:
        """The last applied notification id (0 before any); None if the generation is gone."""

    @abstractmethod
    def start_generation(self, *, restart: bool = False) -> int:
        """Create the next generation's empty tables, or resume the one a rebuild left."""

    @abstractmethod
    def switch_to(self, generation: int) -> None:
        """Make `generation` current in one transaction, then drop the previous tables."""

    # -- batches ------------------------------------------------------------------------------

    def stage(self, change: Any, tracking: Tracking) -> None:
        """Keep a change for the next commit."""
        self.batch.stage(change)
        self.last_tracking = tracking

    def quarantine(self, event: QuarantinedEvent, tracking: Tracking) -> None:
        """Skip an event that cannot be decoded or applied, and keep why for the next commit."""
        self.quarantined.append(event.staged())
        self.last_tracking = tracking

    def adopt(self, ready: Any, quarantined: list[tuple[Any, ...]], tracking: Tracking) -> None:
        """Take what another process staged for the events up to `tracking`, in the form its
        batch's `ready` gave, and the events it quarantined, for the next commit."""
        self.adopted = ready
        self.quarantined = list(quarantined)
        self.last_tracking = tracking

    def discard(self) -> None:
        self.batch = self.batch_type()
        self.adopted = None
        self.quarantined = []
        self.last_tracking = None

    def staged(self) -> Any:
        """What the next commit writes (the batch's `ready` form)."""
        return self.batch.ready() if self.adopted is None else self.adopted

    @abstractmethod
    def commit(self, generation: int, expected_position: int) -> None:
        """Write the staged changes and the last staged position in one transaction, if the
        generation's position is still `expected_position`; else raise PositionMovedError."""

    # -- eventsourcing's TrackingRecorder --------------------------------------------------------

    def max_tracking_id(self, application_name: str) -> int | None:
        return self.position(self.generations().current) or None

    def insert_tracking(self, tracking: Tracking) -> None:
        """Record a position with no change (used to skip ahead)."""
        self.discard()
        self.last_tracking = tracking
        generation = self.generations().current
        self.commit(generation, self.position(generation) or 0)

    def close(self) -> None:
        """Release connections; views that share a database may each call it."""

    @abstractmethod
    def dump(self, generation: int | None = None) -> list[tuple[Any, ...]]:
        """Every row of a generation (default: current), sorted: for comparisons and tests."""

    @abstractmethod
    def quarantined_events(
        self,
        chat_ids: Sequence[str] | None = None,
        limit: int = 1000,
        *,
        every_read_model: bool = False,
    ) -> list[QuarantinedEvent]:
        """The events the current generation skipped, in log order (of these chats only); with
        `every_read_model`, those of every read model kept with this one, in one query."""

    @abstractmethod
    def quarantined_count(self, generation: int) -> int: ...


class MessageTableView(ReadModelView):
    name = "messages"
    batch_type = MessageBatch

    @abstractmethod
    def messages(self, chat_id: str) -> list[dict[str, Any]]: ...

    @abstractmethod
    def page(
        self, chat_id: str, where: MessageFilter, after_position: int, limit: int
    ) -> list[dict[str, Any]]:
        """A chat's rows in log order after a position, filtered."""

    @abstractmethod
    def counts(self, chat_ids: Sequence[str] | None) -> dict[str, int]:
        """How many messages each of these chats has (None: every chat with a row)."""

    @abstractmethod
    def rows_of(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """What the rows of these messages (chat id, message id) say of the event that last
        changed them: chat_id, message_id, user_id, role, version, event_hash, position."""


class StatsView(ReadModelView):
    name = "stats"
    batch_type = StatBatch

    @abstractmethod
    def counters(self, scope: str, since_hour: str | None) -> list[tuple[str, str, int]]:
        """(metric, key, value) summed over all time, or over the hours from `since_hour`."""

    @abstractmethod
    def hourly(self, scope: str, metric: str, since_hour: str) -> list[tuple[str, int]]:
        """(hour, value) of one metric summed over its keys, per hour from `since_hour`."""


@dataclass(frozen=True)
class AuditFilter:
    user_id: str | None = None
    chat_id: str | None = None
    message_id: str | None = None
    event_types: Sequence[str] = ()
    since: str | None = None  # ISO time, inclusive
    until: str | None = None  # ISO time, exclusive


class AuditIndexView(ReadModelView):
    name = "audit"
    batch_type = AuditBatch

    @abstractmethod
    def entries(
        self, where: AuditFilter, after_position: int = 0, limit: int = 1000
    ) -> list[AuditEntry]:
        """Entries in event order, after a position (for paging through millions)."""

    @abstractmethod
    def count(self, where: AuditFilter) -> int:
        """How many entries match (for a progress bar's total)."""

    @abstractmethod
    def chats(self, where: AuditFilter, before_position: int | None, limit: int) -> list[Any]:
        """A user's chats, latest activity first: (chat_id, first event time, last event time,
        events, last position), before a last position (paging)."""


BATCH_TYPES: dict[str, type[Batch]] = {
    view.name: view.batch_type for view in (MessageTableView, StatsView, AuditIndexView)
}
