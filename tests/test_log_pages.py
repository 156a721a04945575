"""Pages of the notification log: the event store's recorders (their own queries,
infrastructure/log_pages.py) give exactly what eventsourcing's give, for every start, stop and
limit a reader asks, and other queries through eventsourcing's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

from chatledger.domain.pipeline import PersistencePipeline


def test_pages_are_eventsourcings_pages(pipeline: PersistencePipeline) -> None:
    for chat in ("c1", "c2"):
        assert pipeline.start_chat(chat, "ann").success
        for number in range(4):
            assert pipeline.persist_user_message(chat, "ann", f"hi \x00 😀 {number}").success
    recorder = pipeline.recorder
    base: Any = (
        SQLiteApplicationRecorder
        if isinstance(recorder, SQLiteApplicationRecorder)
        else PostgresApplicationRecorder
    )

    def eventsourcings(*args: Any, **kwargs: Any) -> Sequence[Notification]:
        return base.select_notifications(recorder, *args, **kwargs)  # type: ignore[no-any-return]

    head = recorder.max_notification_id()
    assert head == 10
    for start in (1, 2, 5, head, head + 1):
        for limit in (1, 3, 100):
            for stop in (None, start - 1, start, start + 2, head, head + 5):
                ours = recorder.select_notifications(start, limit, stop=stop)
                theirs = eventsourcings(start, limit, stop=stop)
                assert ours == theirs, (start, limit, stop)
                assert all(type(n) is type(m) for n, m in zip(ours, theirs, strict=True))
                assert all(type(n.state) is bytes for n in ours)  # the mapper decodes bytes
    topics = [recorder.select_notifications(1, 100)[1].topic]
    for other in ({"topics": topics}, {"inclusive_of_start": False}, {"stop": 4, "topics": topics}):
        assert recorder.select_notifications(1, 100, **other) == eventsourcings(1, 100, **other)
