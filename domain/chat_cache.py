"""The aggregate cache, trusted only while the store holds the rows each cached chat was folded
from: a chat in memory proves nothing about the store.

An event damaged after its chat was cached (a disk error, a bad restore, a row altered by hand)
makes every process that loads the chat refuse it with CHAT_DAMAGED, while the process that
cached it would go on appending to it. So every load asks the store for a digest of each row a
load from the store would read (the chat's events after the snapshot it was folded from: topic
and state, hashed by PostgreSQL itself; nothing decoded) and compares them with the digests of
the rows the cached chat was folded from or saved as. The same rows, the same versions: the
cached chat is what the store holds, and serves. Anything else (a row changed or removed,
another process's appends) folds the chat again from the store, which raises where an event
cannot be read. This process's own appends extend the digests as they are recorded.

The price is one indexed query per load where there was none: 0.1 ms on SQLite and a round trip
on PostgreSQL for a chat of 50 events since its snapshot, where a cached chat was handed out in
5 us, and a third of what decoding the rows would cost (docs/reliability.md).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import AggregateNotFoundError, Application, project_aggregate

from chatledger.domain.chat import Chat
from chatledger.domain.ports import RowDigests

RowDigest = tuple[int, object]  # a stored row's version and digest


def row_digest(topic: object, state: object) -> object:
    """A stored row's digest, as this process computes it where the store does not: Python's
    hash of the row, a SipHash keyed anew in each process (so nobody outside can aim at one),
    ten times cheaper than SHA-256 and compared only within the process. A row whose columns
    have other types than an event's (a state turned into text) has none that matches."""
    if not isinstance(topic, str) or not isinstance(state, bytes):
        return None
    return hash((topic, state))


@dataclass(frozen=True)
class FoldedRows:
    """The stored rows a cached chat stands for: those after `base` (its snapshot's version)."""

    base: int
    digests: tuple[RowDigest, ...] = ()

    @property
    def version(self) -> int:
        return self.digests[-1][0] if self.digests else self.base

    def followed_by(self, saved: Sequence[RowDigest]) -> FoldedRows | None:
        """These rows and the rows just saved after them; None if those do not follow on."""
        if not saved or saved[0][0] != self.version + 1:
            return None
        return FoldedRows(self.base, self.digests + tuple(saved))


class CheckedChatCache:
    """Loads chats for the application: from its aggregate cache while the store's rows are
    those a cached chat was folded from (see above), else from the store."""

    def __init__(self, application: Application[str]) -> None:
        self.application = application
        self.cache = application.repository.cache
        # Checked once: a runtime Protocol check per load would cost more than the query.
        recorder = application.recorder
        self.digests_in_store = isinstance(recorder, RowDigests)
        self.digest = recorder.row_digest if isinstance(recorder, RowDigests) else row_digest
        # In the cache's order of use (most recent last), at most as many as it holds chats.
        self.folded: dict[str, FoldedRows] = {}
        self.maxsize: int = getattr(self.cache, "maxsize", 0)
        self.lock = threading.Lock()

    def load(self, chat_id: str, *, taken: bool = False) -> Chat:
        """The chat as the store holds it: a copy of the cached one, or with `taken` the cached
        one itself, out of the cache (the caller puts it back with `put`). Raises
        AggregateNotFoundError, or what decoding or folding an unreadable event raises."""
        cached = self.cached(chat_id, evict=taken)
        if cached is None or not self.stands_for_store(chat_id, cached.version):
            cached = self.from_store(chat_id)
            if not taken:
                self.put(cached)
        return cached if taken else copy.deepcopy(cached)

    def cached(self, chat_id: str, *, evict: bool) -> Chat | None:
        if self.cache is None:
            return None
        try:
            chat = self.cache.get(chat_id, evict=evict)
        except KeyError:
            return None
        return chat if isinstance(chat, Chat) else None

    def stands_for_store(self, chat_id: str, version: int) -> bool:
        folded = self.folded.get(chat_id)
        if folded is None or folded.version != version:
            return False
        return tuple(self.stored_digests(chat_id, folded.base)) == folded.digests

    def stored_digests(self, chat_id: str, after: int) -> list[RowDigest]:
        recorder = self.application.recorder
        if self.digests_in_store:
            assert isinstance(recorder, RowDigests)
            return recorder.row_digests(chat_id, after)
        return self.digests_of(recorder.select_events(chat_id, gt=after))

    def digests_of(self, rows: Iterable[Any]) -> list[RowDigest]:
        return [(row.originator_version, self.digest(row.topic, row.state)) for row in rows]

    def from_store(self, chat_id: str) -> Chat:
        """Folded from its latest snapshot and the events after it, as eventsourcing's
        repository does, keeping the digests of the rows it read."""
        application = self.application
        snapshots = [] if application.snapshots is None else list(
            application.snapshots.get(chat_id, desc=True, limit=1)
        )  # fmt: skip
        base = snapshots[0].originator_version if snapshots else 0
        rows = application.recorder.select_events(chat_id, gt=base)
        events = [application.mapper.to_domain_event(row) for row in rows]
        chat = project_aggregate(None, [*snapshots, *events])
        if not isinstance(chat, Chat):
            raise AggregateNotFoundError(chat_id)
        self.remember(chat_id, FoldedRows(base, tuple(self.digests_of(rows))))
        return chat

    def put(self, chat: Chat) -> None:
        """Keep a chat that stands for the stored rows (loaded, or saved through `saved`)."""
        if self.cache is not None:
            self.cache.put(chat.id, chat)

    def recording(self, put: Callable[[Sequence[Any]], Any]) -> Callable[[Sequence[Any]], Any]:
        """The event store's put (what group commit records with), keeping the digests of the
        rows it recorded (its recordings' notifications)."""

        def put_and_keep(events: Sequence[Any]) -> Any:
            recordings = put(events)
            self.saved(recording.notification for recording in recordings)
            return recordings

        return put_and_keep

    def saved(self, rows: Iterable[Any]) -> None:
        """Rows just recorded (notifications: id, version, topic, state): each chat's digests
        go on with them, or are dropped if they do not follow on from those kept."""
        saved: dict[str, list[RowDigest]] = {}
        for row in rows:
            digest = (row.originator_version, self.digest(row.topic, row.state))
            saved.setdefault(str(row.originator_id), []).append(digest)
        for chat_id, digests in saved.items():
            folded = self.folded.get(chat_id, FoldedRows(0) if digests[0][0] == 1 else None)
            followed = folded.followed_by(digests) if folded else None
            if followed is None:
                self.forget(chat_id)
            else:
                self.remember(chat_id, followed)

    def snapshotted(self, chat_id: str, version: int) -> None:
        """A snapshot at `version` was stored: a load from the store starts after it."""
        folded = self.folded.get(chat_id)
        if folded is not None and folded.version == version:
            self.remember(chat_id, FoldedRows(version))

    def remember(self, chat_id: str, folded: FoldedRows) -> None:
        with self.lock:
            self.folded.pop(chat_id, None)
            if self.maxsize and len(self.folded) >= self.maxsize:
                del self.folded[next(iter(self.folded))]  # the least recently kept
            if self.maxsize:
                self.folded[chat_id] = folded

    def forget(self, chat_id: str) -> None:
        self.cached(chat_id, evict=True)
        with self.lock:
            self.folded.pop(chat_id, None)
