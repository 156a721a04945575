"""Throughput with concurrent clients: threads of one process, each writing to its own chat.

A chat backend serves many conversations at once; its persists meet in the pipeline, where
group commit lets them share transactions. The baseline is the same number of threads saving
events of the same size with a plain eventsourcing Application: one transaction each.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from time import perf_counter
from uuid import uuid4

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.bench.persist import Note, RawApplication, stored_size


@dataclass(frozen=True)
class ClientFigures:
    clients: int
    messages: int
    per_second: float
    p50_ms: float
    p99_ms: float
    raw_per_second: float

    @property
    def ratio(self) -> float:
        """ChatLedger's throughput over the raw store's: above 1 when shared commits win."""
        return round(self.per_second / self.raw_per_second, 2) if self.raw_per_second else 0.0


def run_clients(clients: int, calls_each: int, call: Callable[[int, int], None]) -> list[float]:
    """Start every client at once; each makes its calls in turn. Returns every call's seconds."""
    start = threading.Barrier(clients)

    def client(number: int) -> list[float]:
        start.wait()
        seconds = []
        for index in range(calls_each):
            began = perf_counter()
            call(number, index)
            seconds.append(perf_counter() - began)
        return seconds

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return [s for client_seconds in pool.map(client, range(clients)) for s in client_seconds]


def throughput(
    clients: int, calls_each: int, call: Callable[[int, int], None]
) -> tuple[float, list[float]]:
    began = perf_counter()
    seconds = run_clients(clients, calls_each, call)
    return clients * calls_each / (perf_counter() - began), sorted(seconds)


@dataclass
class ClientsBenchmark:
    pipeline: PersistencePipeline
    raw: RawApplication
    prompts: list[str]

    def run(self, client_counts: list[int], messages: int) -> list[ClientFigures]:
        return [self.measure(clients, messages) for clients in client_counts]

    def measure(self, clients: int, messages: int) -> ClientFigures:
        calls_each = max(1, messages // clients)
        chats = [f"clients-{clients}-{uuid4().hex[:8]}-{n}" for n in range(clients)]
        for chat_id in chats:
            assert self.pipeline.start_chat(chat_id, "bench-user", model="gpt-4o").success

        def persist(client: int, index: int) -> None:
            content = self.prompts[(client * calls_each + index) % len(self.prompts)]
            result = self.pipeline.persist_user_message(
                chats[client], "bench-user", content, message_id=f"c{index}"
            )
            assert result.success, result.error

        rate, seconds = throughput(clients, calls_each, persist)
        return ClientFigures(
            clients=clients,
            messages=clients * calls_each,
            per_second=round(rate, 1),
            p50_ms=round(seconds[len(seconds) // 2] * 1000, 3),
            p99_ms=round(seconds[min(len(seconds) - 1, int(len(seconds) * 0.99))] * 1000, 3),
            raw_per_second=round(
                self.raw_rate(clients, calls_each, stored_size(self.pipeline, chats[0])), 1
            ),
        )

    def raw_rate(self, clients: int, calls_each: int, event_size: int) -> float:
        body = "x" * event_size
        notes = [Note() for _ in range(clients)]
        self.raw.save(*notes)

        def save(client: int, index: int) -> None:
            notes[client].write(body)
            self.raw.save(notes[client])

        return throughput(clients, calls_each, save)[0]
