"""Persist throughput over HTTP beside the same persists in process, with 1, 4 and 16 clients.

The server is `chatledger serve` in a process of its own (as deployed: its own interpreter lock,
no projections followed, so that it does only what the in-process figure does); each client is a
thread with its own keep-alive connection, writing user messages to its own chat.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from uuid import uuid4

import httpx

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.bench.clients import throughput
from chatledger.infrastructure.bootstrap import shared_read_models
from chatledger.infrastructure.security.api_keys import ApiKeyStore
from chatledger.infrastructure.settings import Settings

CLI = [sys.executable, "-m", "chatledger"]


@dataclass(frozen=True)
class HttpFigures:
    clients: int
    messages: int
    per_second: float
    p50_ms: float
    p99_ms: float
    in_process_per_second: float
    in_process_p99_ms: float

    @property
    def ratio(self) -> float:
        """HTTP throughput over in-process throughput: what the transport costs."""
        if not self.in_process_per_second:
            return 0.0
        return round(self.per_second / self.in_process_per_second, 2)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def served(url: str, workers: int = 1) -> Iterator[str]:
    """`chatledger serve` on a free port of 127.0.0.1 until the block ends; its base URL."""
    port = free_port()
    command = [*CLI, "serve", "--port", str(port), "--no-follow", "--workers", str(workers)]
    # The URL through the environment: a password on a command line shows in the process list.
    environment = {**os.environ, "CHATLEDGER_DATABASE_URL": url}
    server = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
        command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _healthy(base):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("chatledger serve did not start")
            time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class HttpBenchmark:
    pipeline: PersistencePipeline
    settings: Settings
    prompts: list[str]
    workers: int = 1  # processes of `chatledger serve`

    def run(self, client_counts: list[int], messages: int) -> list[HttpFigures]:
        database = shared_read_models(self.settings, self.pipeline)
        try:
            secret = ApiKeyStore(database).create("bench-http").secret
        finally:
            database.close()
        url = self.settings.database_url.get_secret_value()
        with served(url, self.workers) as base:
            return [self.measure(base, secret, n, messages) for n in client_counts]

    def measure(self, base: str, secret: str, clients: int, messages: int) -> HttpFigures:
        calls_each = max(1, messages // clients)
        run_id = uuid4().hex[:8]
        headers = {"Authorization": f"Bearer {secret}"}
        sessions = [httpx.Client(base_url=base, headers=headers) for _ in range(clients)]
        chats = [f"http-{clients}-{run_id}-{n}" for n in range(clients)]
        for session, chat_id in zip(sessions, chats, strict=True):
            session.post("/v1/chats", json={"chat_id": chat_id, "model": "gpt-4o"})

        def persist(client: int, index: int) -> None:
            content = self.prompts[(client * calls_each + index) % len(self.prompts)]
            body = {"content": content, "message_id": f"h{index}"}
            response = sessions[client].post(f"/v1/chats/{chats[client]}/messages/user", json=body)
            assert response.status_code == 201, response.text

        try:
            rate, seconds = throughput(clients, calls_each, persist)
        finally:
            for session in sessions:
                session.close()
        local_rate, local = self.in_process(clients, calls_each, run_id)
        return HttpFigures(
            clients=clients, messages=clients * calls_each, per_second=round(rate, 1),
            p50_ms=_ms(seconds, 0.5), p99_ms=_ms(seconds, 0.99),
            in_process_per_second=round(local_rate, 1), in_process_p99_ms=_ms(local, 0.99),
        )  # fmt: skip

    def in_process(self, clients: int, calls_each: int, run_id: str) -> tuple[float, list[float]]:
        """The same persists through this process's pipeline (no HTTP), same database."""
        chats = [f"local-{clients}-{run_id}-{n}" for n in range(clients)]
        for chat_id in chats:
            assert self.pipeline.start_chat(chat_id, "bench-http", model="gpt-4o").success

        def persist(client: int, index: int) -> None:
            content = self.prompts[(client * calls_each + index) % len(self.prompts)]
            result = self.pipeline.persist_user_message(
                chats[client], "bench-http", content, message_id=f"l{index}"
            )
            assert result.success, result.error

        return throughput(clients, calls_each, persist)


def _ms(ordered: list[float], quantile: float) -> float:
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * quantile))] * 1000, 3)
