"""The console's pages at a history of many messages: p50 and p95 of each page, fetched over
HTTP from `chatledger serve` in its own process, as an auditor (a bearer key) would.

The history is recorded with import_chats (chats of 100 messages, a fifth of them replies with
a model, usage and a finish reason) and the read models are caught up before the server
starts, so that what is measured is the pages, not the projections catching up."""

from __future__ import annotations

import time
from dataclasses import dataclass
from statistics import quantiles

import httpx

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.bench.http_api import served
from chatledger.infrastructure.bootstrap import build_read_side, shared_read_models
from chatledger.infrastructure.security.api_keys import ApiKeyStore, Role
from chatledger.infrastructure.settings import Settings

CHAT_MESSAGES = 100
CHATS_PER_IMPORT = 5  # 500 messages a transaction, as the ingest windows
USERS = 50
SAMPLES = 40


@dataclass(frozen=True)
class PageFigures:
    page: str
    messages: int
    samples: int
    p50_ms: float
    p95_ms: float


def chat_spec(index: int, prompts: list[str], replies: list[str]) -> dict[str, object]:
    messages: list[dict[str, object]] = []
    for turn in range(CHAT_MESSAGES):
        text = (prompts if turn % 2 == 0 else replies)[(index + turn) % len(prompts)]
        role = "user" if turn % 2 == 0 else "assistant"
        message: dict[str, object] = {"role": role, "content": text,
                                      "message_id": f"m{index}-{turn}"}  # fmt: skip
        if turn % 2:
            message |= {"model": "gpt-4o" if index % 3 else "claude-sonnet-4",
                        "usage": {"input_tokens": 40 + turn, "output_tokens": 12},
                        "finish_reasons": ["stop"]}  # fmt: skip
        messages.append(message)
    return {"chat_id": f"chat-{index}", "title": f"Conversation {index}", "messages": messages}


def record_history(
    pipeline: PersistencePipeline, messages: int, prompts: list[str], replies: list[str]
) -> int:
    """Record about `messages` messages across chats of USERS users; the chats' count."""
    chats = max(1, messages // CHAT_MESSAGES)
    for start in range(0, chats, CHATS_PER_IMPORT):
        batch = range(start, min(chats, start + CHATS_PER_IMPORT))
        user = f"user-{start // CHATS_PER_IMPORT % USERS}"
        result = pipeline.import_chats(user, [chat_spec(i, prompts, replies) for i in batch])
        if not result.success:
            raise RuntimeError(f"the console's history was not recorded: {result.error}")
    return chats


def timed(client: httpx.Client, path: str, samples: int) -> tuple[float, float]:
    for _ in range(3):  # warm caches and connections first
        client.get(path).raise_for_status()
    durations = []
    for _ in range(samples):
        started = time.perf_counter()
        client.get(path).raise_for_status()
        durations.append((time.perf_counter() - started) * 1000.0)
    cuts = quantiles(durations, n=100, method="inclusive")
    return round(cuts[49], 3), round(cuts[94], 3)


def pages(chats: int) -> dict[str, str]:
    middle = f"chat-{chats // 2}"
    return {
        "search (a user, first page)": "/console/search?user_id=user-1",
        "search (role and model)": "/console/search?role=assistant&model=claude-sonnet-4",
        "search (a chat)": f"/console/search?chat_id={middle}",
        "conversation (100 messages)": f"/console/chats/{middle}",
        "time travel (version 50)": f"/console/chats/{middle}/replay?version=50",
        "proof (chain recomputed)": f"/console/chats/{middle}/proof",
        "statistics (a user)": "/console/stats?user_id=user-1",
        "statistics (a chat)": f"/console/stats?chat_id={middle}",
        "erasures": "/console/erasures",
    }


class ConsoleBenchmark:
    def __init__(self, pipeline: PersistencePipeline, settings: Settings, messages: int,
                 prompts: list[str], replies: list[str]) -> None:  # fmt: skip
        self.pipeline, self.settings, self.messages = pipeline, settings, messages
        self.prompts, self.replies = prompts, replies

    def run(self) -> list[PageFigures]:
        chats = record_history(self.pipeline, self.messages, self.prompts, self.replies)
        read_side = build_read_side(self.settings, self.pipeline, catch_up_on_read=False)
        try:
            read_side.catch_up()
        finally:
            read_side.close()
        database = shared_read_models(self.settings, self.pipeline)
        try:
            secret = ApiKeyStore(database).create("bench-auditor", Role.auditor).secret
        finally:
            database.close()
        url = self.settings.database_url.get_secret_value()
        figures = []
        with served(url) as base, httpx.Client(base_url=base, timeout=60.0,
                headers={"Authorization": f"Bearer {secret}"}) as client:  # fmt: skip
            for name, path in pages(chats).items():
                p50, p95 = timed(client, path, SAMPLES)
                figures.append(PageFigures(name, chats * CHAT_MESSAGES, SAMPLES, p50, p95))
        return figures
