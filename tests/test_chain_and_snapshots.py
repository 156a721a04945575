"""The hash chain links every event of a chat; snapshots keep long chats fast and exact."""

from __future__ import annotations

import dataclasses
import itertools

from chatledger.domain.chain import GENESIS_HASH, find_broken_link, recompute_hash
from chatledger.domain.chat import Chat
from chatledger.domain.pipeline import PersistencePipeline
from tests.conftest import PipelineFactory


def chat_with_messages(pipeline: PersistencePipeline, count: int) -> list[object]:
    assert pipeline.start_chat("c", "alice", model="gpt-4").success
    for i in range(count):
        assert pipeline.persist_user_message(
            "c", "alice", f"message {i} ✓", message_id=f"m{i}"
        ).success
    return list(pipeline.events.get("c"))


def test_stored_events_form_an_intact_chain(pipeline: PersistencePipeline) -> None:
    events = chat_with_messages(pipeline, 5)
    assert events[0].prev_hash == GENESIS_HASH  # type: ignore[attr-defined]
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash  # type: ignore[attr-defined]
    assert all(recompute_hash(e) == e.hash for e in events)  # type: ignore[attr-defined]
    assert find_broken_link("c", events) is None


def test_an_altered_event_breaks_the_chain_where_it_was_altered(
    pipeline: PersistencePipeline,
) -> None:
    events = chat_with_messages(pipeline, 5)
    altered = list(events)
    altered[3] = dataclasses.replace(altered[3], content="something else")  # type: ignore[type-var]
    broken = find_broken_link("c", altered)
    assert broken is not None
    assert (broken.version, broken.problem, broken.found) == (4, "hash_mismatch", events[3].hash)  # type: ignore[attr-defined]


def test_a_removed_event_is_a_version_gap(pipeline: PersistencePipeline) -> None:
    events = chat_with_messages(pipeline, 5)
    broken = find_broken_link("c", events[:2] + events[3:])
    assert broken is not None
    assert (broken.version, broken.problem) == (3, "version_gap")


def test_long_chats_are_snapshotted_and_load_exactly(open_pipeline: PipelineFactory) -> None:
    writer = open_pipeline()
    writer.snapshot_interval = 50
    chat_with_messages(writer, 120)
    assert writer.snapshots is not None
    snapshots = list(writer.snapshots.get("c"))
    assert [s.originator_version for s in snapshots] == [50, 100]
    reader = open_pipeline()  # no cache: loads from the latest snapshot plus 21 events
    chat: Chat = reader.repository.get("c")
    assert chat.version == 121
    assert len(chat.message_versions) == 120
    assert chat.chain_head == list(reader.events.get("c"))[-1].hash  # type: ignore[attr-defined]
    duplicate = reader.persist_user_message("c", "alice", "message 7 ✓", message_id="m7")
    assert duplicate.duplicate
    assert duplicate.version == 9
