"""Read-side benchmarks: rebuild rate beside the raw read rate of the event store, peak memory,
and the stats query latency at a given history length."""

from __future__ import annotations

import json
import resource
import statistics
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from chatledger.domain.application import PIPELINE_VERSION
from chatledger.domain.chat import Chat
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.domain.ports import content_binding
from chatledger.projections.read_side import ReadSide
from chatledger.projections.verification import ChainVerifier
from chatledger.projections.views import AuditFilter

PAGE = 2000
# Runs of each rebuild and raw read: one run's rate moved by a quarter between runs minutes
# apart on the shared two-core machines, so a figure is the median of three (and the slowest
# is printed beside it).
RUNS = 3


@dataclass(frozen=True)
class RateFigures:
    operation: str
    events: int
    seconds: float  # the median run's
    memory_mb: float  # the largest growth of any run
    slowest_seconds: float
    runs: int = 1

    @property
    def per_second(self) -> float:
        return round(self.events / self.seconds, 1) if self.seconds else 0.0

    @property
    def slowest_per_second(self) -> float:
        return round(self.events / self.slowest_seconds, 1) if self.slowest_seconds else 0.0


def of_runs(operation: str, events: int, runs: list[tuple[float, float]]) -> RateFigures:
    """The figures of repeated runs, each (seconds, memory growth in MB)."""
    seconds = [run_seconds for run_seconds, _ in runs]
    return RateFigures(operation, events, statistics.median(seconds),
                       max(memory for _, memory in runs), max(seconds), len(runs))  # fmt: skip


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return round(resident_pages * resource.getpagesize() / 2**20, 1)


def seed_history(
    pipeline: PersistencePipeline,
    user_id: str,
    messages: int,
    chats: int,
    texts: list[str],
    chat_prefix: str = "bench",
) -> int:
    """Record `messages` messages of one user over `chats` chats, saved many events per
    transaction (a benchmark fixture: real events and chains, content sealed under the user's
    key as the pipeline seals it, without per-message latency)."""
    per_chat = max(1, messages // chats)
    written = 0
    for number in range(chats):
        chat = Chat.start(f"{chat_prefix}-{number}", user_id, None, "gpt-4o", PIPELINE_VERSION)

        def sealed(message_id: str, text: str, chat_id: str = chat.id) -> str:
            return pipeline.protector.seal(user_id, text, content_binding(chat_id, message_id))

        for index in range(per_chat):
            text = texts[(number * per_chat + index) % len(texts)]
            record_message(chat, user_id, index, sealed(f"m{index}", text))
            if len(chat.pending_events) >= 1000:
                written += len(chat.pending_events)
                pipeline.save(chat)
        written += len(chat.pending_events)
        pipeline.save(chat)
    return written


def record_message(chat: Chat, user_id: str, index: int, text: str) -> None:
    """A user message, a reply or a streamed reply, with the metadata a chat backend sends;
    `text` as stored (sealed), the token count made up from its length."""
    message_id = f"m{index}"
    tokens = {"count": len(text) // 4, "encoding": "o200k_base", "exact_model": True}
    context: dict[str, list[str]] = {
        "document_chunks": [],
        "insights": [],
        "jtbds": [],
        "metrics": [],
    }
    common = {"message_id": message_id, "user_id": user_id, "metadata": {}}
    request = common | {"idempotency_key": None, "context": context,
                        "pipeline_version": PIPELINE_VERSION}  # fmt: skip
    reply = {"model": "gpt-4o", "temperature": 0.7, "intent": None}
    if index % 5 in (0, 2):
        intent = {"name": "general_question", "confidence": 0.3, "keywords": []}
        chat.trigger_event(Chat.UserMessageRecorded, **request, content=text, intent=intent,
                           tokens=tokens, processing_ms=0.4 + index % 7)  # fmt: skip
    elif index % 5 in (1, 3):
        usage = {"input_tokens": 100, "output_tokens": 50, "source": "provider"}
        chat.trigger_event(Chat.AssistantMessageRecorded, **request, **reply, content=text,
                           tokens=tokens, usage=usage, generation_ms=900.0, processing_ms=0.5,
                           error_code=None, error_message=None)  # fmt: skip
    else:
        chat.trigger_event(Chat.StreamOpened, **request, **reply)
        opened_at = chat.open_streams[message_id]
        chat.trigger_event(Chat.StreamCompleted, **common, opened_at=opened_at, content=text,
                           tokens=tokens, usage=None, first_chunk_ms=80.0 + index % 50,
                           duration_ms=900.0, chunk_count=12, processing_ms=0.6, error_code=None,
                           error_message=None)  # fmt: skip


def raw_read_rate(pipeline: PersistencePipeline, runs: int = RUNS) -> RateFigures:
    """Every notification read in pages and decoded into its event, in one process."""
    timed = []
    for _ in range(runs):
        started, events, position = perf_counter(), 0, 0
        while True:
            page = pipeline.recorder.select_notifications(position + 1, PAGE)
            if not page:
                break
            for notification in page:
                pipeline.mapper.to_domain_event(notification)
            events += len(page)
            position = page[-1].id
        timed.append((perf_counter() - started, 0.0))
    return of_runs("raw read + decode", events, timed)


def rebuild_rates(read_side: ReadSide, runs: int = RUNS) -> list[RateFigures]:
    """Each projection rebuilt from the first event, `runs` times; memory is the growth of the
    resident set while it ran (sampled after every batch), which stays flat as the log grows."""
    figures = []
    for name, runner in read_side.runners.items():
        head, timed = runner.head(), []
        for _ in range(runs):
            before = highest = current_rss_mb()

            def sample(position: int, head: int) -> None:
                nonlocal highest
                highest = max(highest, current_rss_mb())

            started = perf_counter()
            runner.rebuild(sample)
            timed.append((perf_counter() - started, round(highest - before, 1)))
        figures.append(of_runs(f"rebuild {name}", head, timed))
    return figures


def verify_rate(pipeline: PersistencePipeline) -> RateFigures:
    started = perf_counter()
    report = ChainVerifier(pipeline).verify()
    assert report.intact, report.broken[:3]
    return of_runs("verify (all chains)", report.events, [(perf_counter() - started, 0.0)])


def export_rate(read_side: ReadSide) -> RateFigures:
    """The whole audit trail as JSONL, written to nowhere: the export's own cost."""
    started, events = perf_counter(), 0
    for record in read_side.audit_records(AuditFilter(), with_content=True):
        json.dumps(record, ensure_ascii=False, default=str)
        events += 1
    return of_runs("audit export (JSONL)", events, [(perf_counter() - started, 0.0)])


def stats_latency(
    read_side: ReadSide, user_id: str, samples: int = 500, **query: Any
) -> tuple[float, float]:
    seconds = []
    for _ in range(samples):
        started = perf_counter()
        result = read_side.get_message_persistence_stats(user_id, **query)
        seconds.append(perf_counter() - started)
        assert result.success, result.error
    ordered = sorted(seconds)
    return (round(statistics.median(ordered) * 1000, 3),
            round(ordered[int(len(ordered) * 0.99)] * 1000, 3))  # fmt: skip


@dataclass(frozen=True)
class QueryFigures:
    history: int
    query: str
    p50_ms: float
    p99_ms: float


@dataclass
class ReadSideBenchmark:
    """Grows one user's history through the given sizes; at each, times the stats queries and
    rebuilds every projection beside the raw read rate of the same log."""

    pipeline: PersistencePipeline
    read_side: ReadSide
    texts: list[str]
    user_id: str = "bench-reader"
    chats: int = 100

    def run(self, sizes: list[int]) -> tuple[list[QueryFigures], dict[int, list[RateFigures]]]:
        queries: list[QueryFigures] = []
        rebuilds: dict[int, list[RateFigures]] = {}
        seeded = 0
        for size in sorted(sizes):
            self.grow(seeded, size)
            seeded = size
            self.read_side.catch_up()
            queries += self.time_queries(size)
            rebuilds[size] = [
                raw_read_rate(self.pipeline),
                *rebuild_rates(self.read_side),
                verify_rate(self.pipeline),
                export_rate(self.read_side),
            ]
        return queries, rebuilds

    def grow(self, start: int, end: int) -> None:
        """Add the messages from `start` to `end`, over new chats of the same user."""
        chats = min(self.chats, end - start)
        seed_history(self.pipeline, self.user_id, end - start, chats, self.texts, f"h{start}")

    def time_queries(self, size: int) -> list[QueryFigures]:
        chat = "h0-0"
        figures = []
        for label, query in (("user, all time", {}), ("user, last 24 h", {"time_range_hours": 24}),
                             ("one chat", {"chat_id": chat})):  # fmt: skip
            p50, p99 = stats_latency(self.read_side, self.user_id, **query)
            figures.append(QueryFigures(size, label, p50, p99))
        return figures
