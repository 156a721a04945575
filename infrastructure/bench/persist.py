"""Persist latency beside a raw eventsourcing save of an event of the same size, in one run.

The baseline is what ChatLedger adds to: a plain eventsourcing Application on the same database
saving one event per call whose stored state has the same number of bytes.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from time import perf_counter
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.domain.ports import CommandObserver, CommandReport
from chatledger.domain.stream_context import StreamContext


@dataclass(frozen=True)
class LatencyFigures:
    operation: str
    samples: int
    p50_ms: float
    p99_ms: float
    per_second: float
    raw_p50_ms: float | None = None
    work_ms: float | None = None  # mean per call: validation, intent, tokens, hashing, logging
    store_ms: float | None = None  # mean per call: encoding and saving the events

    @property
    def ratio(self) -> float | None:
        return None if not self.raw_p50_ms else round(self.p50_ms / self.raw_p50_ms, 2)


def figures(
    operation: str,
    seconds: list[float],
    raw: LatencyFigures | None = None,
    split: TimeSplit | None = None,
) -> LatencyFigures:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return LatencyFigures(
        operation=operation,
        samples=len(ordered),
        p50_ms=round(statistics.median(ordered) * 1000, 3),
        p99_ms=round(p99 * 1000, 3),
        per_second=round(len(ordered) / sum(ordered), 1),
        raw_p50_ms=raw.p50_ms if raw else None,
        work_ms=round((split.processing_ms - split.store_ms) / len(ordered), 3) if split else None,
        store_ms=round(split.store_ms / len(ordered), 3) if split else None,
    )


class TimeSplit:
    """Passes the pipeline's reports on, adding up how much of each command was storage."""

    def __init__(self, observer: CommandObserver) -> None:
        self.observer = observer
        self.processing_ms = 0.0
        self.store_ms = 0.0

    def command_finished(self, report: CommandReport) -> None:
        self.observer.command_finished(report)
        self.processing_ms += report.processing_ms
        self.store_ms += report.store_ms or 0.0


def timed(calls: Iterator[Callable[[], Any]]) -> list[float]:
    seconds = []
    for call in calls:
        started = perf_counter()
        call()
        seconds.append(perf_counter() - started)
    return seconds


class Note(Aggregate):
    """The raw baseline's aggregate: one event with an opaque body per save."""

    @event("Written")
    def write(self, body: str) -> None:
        pass


class RawApplication(Application[UUID]):
    name = "rawbaseline"


def raw_saves(app: RawApplication, bodies: list[str], saves_per_call: int = 1) -> list[float]:
    note = Note()
    app.save(note)

    def save(body: str) -> Callable[[], None]:
        def call() -> None:
            for _ in range(saves_per_call):
                note.write(body)
                app.save(note)

        return call

    return timed(save(b) for b in bodies)


def stored_size(pipeline: PersistencePipeline, chat_id: str) -> int:
    """Mean bytes of state per stored event of a chat, to size the raw baseline's events."""
    stored = pipeline.recorder.select_events(chat_id)
    return int(statistics.mean(len(s.state) for s in stored[1:])) if len(stored) > 1 else 0


@dataclass
class PersistBenchmark:
    """Each operation on its own chat, then the raw baseline with events of the same size."""

    pipeline: PersistencePipeline
    raw: RawApplication
    prompts: list[str]
    replies: list[str]

    def run(self) -> list[LatencyFigures]:
        operations = [
            ("persist user message", self.persist_user, self.prompts, 1),
            ("persist assistant message", self.persist_assistant, self.replies, 1),
            ("open + complete stream", self.stream_reply, self.replies, 2),
        ]
        self.warm_up()
        results = []
        for index, (name, persist, contents, events_per_call) in enumerate(operations):
            chat_id = f"bench-{index}"
            self.pipeline.start_chat(chat_id, "bench-user", model="gpt-4o")
            observer = self.pipeline.observer
            self.pipeline.observer = split = TimeSplit(observer)
            try:
                seconds = timed(self.calls(persist, chat_id, contents))
            finally:
                self.pipeline.observer = observer
            bodies = ["x" * stored_size(self.pipeline, chat_id)] * len(contents)
            baseline = figures("raw save", raw_saves(self.raw, bodies, events_per_call))
            results.append(figures(name, seconds, baseline, split))
        return results

    def warm_up(self) -> None:
        """Load the tokenizer's encodings and fill the caches before anything is timed."""
        self.pipeline.start_chat("bench-warm-up", "bench-user", model="gpt-4o")
        for index in range(20):
            self.persist_user("bench-warm-up", self.prompts[index % len(self.prompts)], index)
        raw_saves(self.raw, ["x"] * 20)

    @staticmethod
    def calls(
        persist: Callable[[str, str, int], None], chat_id: str, contents: list[str]
    ) -> Iterator[Callable[[], None]]:
        for index, content in enumerate(contents):
            yield lambda content=content, index=index: persist(chat_id, content, index)  # type: ignore[misc]

    def persist_user(self, chat_id: str, content: str, index: int) -> None:
        result = self.pipeline.persist_user_message(
            chat_id, "bench-user", content, message_id=f"u{index}"
        )
        assert result.success, result.error

    def persist_assistant(self, chat_id: str, content: str, index: int) -> None:
        result = self.pipeline.persist_assistant_message(
            chat_id, "bench-user", content, message_id=f"a{index}", model="gpt-4o",
            usage={"input_tokens": 100, "output_tokens": 50}, generation_ms=900.0,
        )  # fmt: skip
        assert result.success, result.error

    def stream_reply(self, chat_id: str, content: str, index: int) -> None:
        opened = self.pipeline.open_stream(
            chat_id, "bench-user", message_id=f"s{index}", model="gpt-4o"
        )
        assert isinstance(opened.stream, StreamContext), opened.error
        opened.stream.add_chunk(content)
        assert self.pipeline.complete_stream(opened.stream).success
