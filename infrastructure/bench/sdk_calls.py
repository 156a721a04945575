"""What the SDK drop-ins add to a model call: the same calls, made by the bare SDK client and by
the recorded one, alternately, against the local model server (provider_server.py), whole and
streamed, for OpenAI and Anthropic. Each call is the next turn of one of a few chats, the
history resent as chat applications do; the added time is the ledger's work, in the caller's
thread. Per chunk: the work a recorded stream does for each chunk it hands over."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from chatledger.domain.stream_context import StreamContext
from chatledger.infrastructure.bench.provider_server import provider_server
from chatledger.infrastructure.integrations.anthropic_client import record_anthropic
from chatledger.infrastructure.integrations.anthropic_format import StreamedMessage
from chatledger.infrastructure.integrations.call_recording import CallPlanner, StreamEnding
from chatledger.infrastructure.integrations.openai_client import record_openai
from chatledger.infrastructure.integrations.openai_format import StreamedReply
from chatledger.infrastructure.ledger.ledger import Ledger
from chatledger.infrastructure.settings import Settings

CHATS = 8
ASK = "Tell me about the weather on the coast this weekend, and what I should pack for it. " * 2


@dataclass(frozen=True)
class SdkCallFigures:
    provider: str
    mode: str  # whole or streamed
    calls: int
    bare_p50_ms: float
    bare_p99_ms: float
    recorded_p50_ms: float
    recorded_p99_ms: float
    chunks_per_call: int
    per_chunk_us: float

    @property
    def added_p50_ms(self) -> float:
        return round(self.recorded_p50_ms - self.bare_p50_ms, 3)


class SdkBenchmark:
    def __init__(self, settings: Settings, calls: int) -> None:
        self.settings = settings
        self.calls = calls

    def run(self) -> list[SdkCallFigures]:
        import anthropic
        import openai

        figures = []
        with provider_server() as (base, _), Ledger(settings=self.settings) as ledger:
            for name in ("openai", "anthropic"):
                if name == "openai":
                    bare: Any = openai.OpenAI(api_key="k", base_url=f"{base}/v1", max_retries=0)
                    recorded = record_openai(bare, ledger)
                else:
                    bare = anthropic.Anthropic(api_key="k", base_url=base, max_retries=0)
                    recorded = record_anthropic(bare, ledger)
                for mode in ("whole", "streamed"):
                    figures.append(self.measure(name, mode, bare, recorded))
        return figures

    def measure(self, provider: str, mode: str, bare: Any, recorded: Any) -> SdkCallFigures:
        histories: dict[str, list[dict[str, Any]]] = {}
        timings: dict[str, list[float]] = {"bare": [], "recorded": []}
        chunks: list[Any] = []
        for number in range(self.calls):
            chat = f"bench-{provider}-{mode}-{number % CHATS}"
            history = histories.setdefault(chat, [])
            history.append({"role": "user", "content": f"{number}: {ASK}"})
            for kind, client in (("bare", bare), ("recorded", recorded.for_chat(chat, "bench"))):
                started = perf_counter()
                answer, chunks = call(provider, client, history, streamed=mode == "streamed")
                timings[kind].append((perf_counter() - started) * 1000)
            history.append({"role": "assistant", "content": answer})
        bare_ms, recorded_ms = timings["bare"], timings["recorded"]
        return SdkCallFigures(
            provider, mode, self.calls, median(bare_ms), p99(bare_ms), median(recorded_ms),
            p99(recorded_ms), len(chunks), per_chunk_us(provider, chunks),
        )  # fmt: skip


def call(
    provider: str, client: Any, history: list[dict[str, Any]], streamed: bool
) -> tuple[str, list[Any]]:
    """One call; the reply's text and the chunks (or events) of a stream."""
    if provider == "openai":
        if not streamed:
            answer = client.chat.completions.create(model="gpt-4o", messages=history)
            return answer.choices[0].message.content or "", []
        chunks = list(client.chat.completions.create(model="gpt-4o", messages=history,
                                                     stream=True))  # fmt: skip
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), chunks
    if not streamed:
        message = client.messages.create(model="claude", max_tokens=512, messages=history)
        return "".join(b.text for b in message.content if b.type == "text"), []
    events = list(client.messages.create(model="claude", max_tokens=512, messages=history,
                                         stream=True))  # fmt: skip
    deltas = [e.delta for e in events if e.type == "content_block_delta"]
    return "".join(d.text for d in deltas if d.type == "text_delta"), events


def per_chunk_us(provider: str, chunks: list[Any], rounds: int = 200) -> float:
    """The recorded stream's own work for each chunk: put the reply together, note the chunk."""
    if not chunks:
        return 0.0
    planner = CallPlanner(provider, None)
    started = perf_counter()
    for _ in range(rounds):
        assembler = StreamedReply() if provider == "openai" else StreamedMessage()
        ending = StreamEnding(StreamContext("c", "u", "m", None), assembler, "")
        for chunk in chunks:
            ending.note(chunk, planner)
    return round((perf_counter() - started) * 1e6 / (rounds * len(chunks)), 2)


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3)
