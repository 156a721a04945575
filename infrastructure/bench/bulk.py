"""Bulk ingest beside raw bulk saves of the same events, and replay of a long chat."""

from __future__ import annotations

import resource
import statistics
from dataclasses import dataclass
from time import perf_counter

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.bench.persist import Note, RawApplication, stored_size
from chatledger.infrastructure.ingest.conversations import Conversation
from chatledger.infrastructure.ingest.ingestor import Ingestor, IngestTotals
from chatledger.infrastructure.ingest.processes import IngestJob, ingest_in_processes
from chatledger.infrastructure.settings import Settings
from chatledger.projections.read_side import ReadSide


def peak_rss_mb() -> float:
    """The process's peak resident set so far (Linux reports kilobytes)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


@dataclass(frozen=True)
class IngestFigures:
    conversations: int
    messages: int
    per_second: float
    raw_per_second: float
    clients: int
    workers: int = 1  # processes

    @property
    def ratio(self) -> float:
        """Raw bulk save rate over ChatLedger's: how much slower the whole pipeline is."""
        return round(self.raw_per_second / self.per_second, 2) if self.per_second else 0.0


@dataclass(frozen=True)
class ReplayFigures:
    operation: str
    events: int
    p50_ms: float
    events_per_second: float


@dataclass
class IngestBenchmark:
    """The conversations ingested by one process, then by `workers` processes (as
    `chatledger ingest --workers`), each time into new chats, beside raw bulk saves."""

    pipeline: PersistencePipeline
    settings: Settings
    raw: RawApplication
    conversations: list[Conversation]
    workers: int
    clients: int = 4

    def run(self) -> list[IngestFigures]:
        window = Ingestor(self.pipeline, user_id="bench-ingest").window_messages
        raw_rate = None
        figures = []
        for workers in sorted({1, self.workers}):
            conversations = [
                c.model_copy(update={"conversation_id": f"w{workers}-{c.conversation_id}"})
                for c in self.conversations
            ]
            totals, seconds = self.ingested(conversations, workers)
            if totals.failed or totals.recorded != totals.messages:
                raise RuntimeError(f"the ingest did not record every message: {totals}")
            raw_rate = raw_rate or self.raw_rate(conversations[0], window, totals.messages)
            figures.append(IngestFigures(
                conversations=totals.conversations, messages=totals.messages,
                per_second=round(totals.messages / seconds, 1),
                raw_per_second=round(raw_rate, 1), clients=self.clients, workers=workers,
            ))  # fmt: skip
        return figures

    def ingested(
        self, conversations: list[Conversation], workers: int
    ) -> tuple[IngestTotals, float]:
        totals = IngestTotals()
        if workers == 1:
            ingestor = Ingestor(self.pipeline, user_id="bench-ingest", clients=self.clients)
            running = ingestor.ingest(conversations, totals)
        else:
            job = IngestJob(self.settings, conversations, "bench-ingest", workers,
                            clients=self.clients)  # fmt: skip
            running = ingest_in_processes(job, totals)
        began = perf_counter()
        for _ in running:
            pass
        return totals, perf_counter() - began

    def raw_rate(self, sample: Conversation, per_transaction: int, events: int) -> float:
        """As many events of the same mean size, saved `per_transaction` at a time."""
        body = "x" * stored_size(self.pipeline, sample.conversation_id)
        began = perf_counter()
        for start in range(0, events, per_transaction):
            notes = [Note() for _ in range(max(1, min(per_transaction, events - start) // 2))]
            for note in notes:
                note.write(body)
            self.raw.save(*notes)  # each note: created and written, two events
        return events / (perf_counter() - began)


@dataclass
class ReplayBenchmark:
    """A chat of `events` events, replayed in full and to its middle, from its events alone."""

    pipeline: PersistencePipeline
    read_side: ReadSide
    prompts: list[str]
    events: int = 10_000

    def run(self) -> list[ReplayFigures]:
        chat_id, owner = "bench-replay", "bench-user"
        assert self.pipeline.start_chat(chat_id, owner, model="gpt-4o").success
        for start in range(1, self.events, 1000):
            numbers = range(start, min(start + 1000, self.events))
            batch = [{"role": "user", "content": self.prompts[i % len(self.prompts)],
                      "message_id": f"r{i}"} for i in numbers]  # fmt: skip
            assert self.pipeline.persist_messages(chat_id, owner, batch).success
        middle = self.events // 2
        return [
            self.timed("replay whole chat", self.events, chat_id, owner, None),
            self.timed("replay to the middle version", middle, chat_id, owner, middle),
        ]

    def timed(
        self, operation: str, events: int, chat_id: str, owner: str, version: int | None
    ) -> ReplayFigures:
        seconds = []
        for _ in range(5):
            began = perf_counter()
            result = self.read_side.replay_chat(chat_id, owner, to_version=version)
            seconds.append(perf_counter() - began)
            if result.version != events:
                raise RuntimeError(f"replay failed: {result.error}")
        p50 = statistics.median(seconds)
        return ReplayFigures(operation, events, round(p50 * 1000, 1), round(events / p50, 1))
