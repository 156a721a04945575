"""`chatledger serve` keeps its read models current: the real command in its own process, with
one worker and with several, on both backends, while another process writes; and `/readyz` is
not ready before every read model has reached the head the log had when the service started."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatledger.infrastructure.bench.http_api import CLI, free_port
from chatledger.infrastructure.http.server import app_for
from chatledger.infrastructure.ingest.conversations import generate_conversations
from chatledger.infrastructure.settings import Settings

DEADLINE_S = 60.0  # a loaded CI machine; the loops below end as soon as the answer is there


def ingest(database_url: str, folder: Path, count: int) -> int:
    """Record `count` conversations from another process (`chatledger ingest`); how many
    messages it recorded."""
    file = folder / "conversations.jsonl"
    file.write_text("".join(c.model_dump_json() + "\n" for c in generate_conversations(count)))
    done = subprocess.run([*CLI, "ingest", str(file), "--database-url", database_url, "--json"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    recorded: int = json.loads(done.stdout.strip().splitlines()[-1])["recorded"]
    return recorded


@contextmanager
def serving(database_url: str, folder: Path, *options: str) -> Iterator[str]:
    env = {**os.environ, "CHATLEDGER_DATABASE_URL": database_url, "CHATLEDGER_LOG_FORMAT": "json"}
    port = free_port()
    log = folder / "serve.log"  # a file, not a pipe: a pipe nobody reads fills and blocks
    with log.open("w") as stderr:
        server = subprocess.Popen([*CLI, "serve", "--port", str(port), *options], env=env,
                                  stdout=subprocess.DEVNULL, stderr=stderr)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + DEADLINE_S
        while not answers(base):
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "serve did not answer"
            time.sleep(0.05)
        yield base
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert server.returncode == 0, log.read_text()


def answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz").status_code == 200
    except httpx.HTTPError:
        return False


def readiness_until(base: str, done: Any) -> dict[str, Any]:
    """Poll /readyz until `done(answer)`, within the deadline; the last answer."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        ready: dict[str, Any] = httpx.get(f"{base}/readyz").json()
        if done(ready):
            return ready
        assert time.monotonic() < deadline, ready
        time.sleep(0.05)


def at_head(ready: dict[str, Any], events: int) -> bool:
    return all(p["head"] >= events and p["position"] == p["head"] for p in ready["projections"])


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_follows_what_another_process_records(
    database_url: str, tmp_path: Path, workers: str
) -> None:
    options = ("--workers", workers, "--poll-seconds", "0.05")
    with serving(database_url, tmp_path, *options) as base:
        messages = ingest(database_url, tmp_path, 5)
        events = messages + 5  # and each conversation's start
        ready = readiness_until(base, lambda answer: at_head(answer, events))
        assert [p["name"] for p in ready["projections"]] == ["messages", "stats", "audit"]
        assert httpx.get(f"{base}/readyz").status_code == 200


def test_readyz_is_not_ready_before_the_read_models_reached_the_head_at_start(
    database_url: str, tmp_path: Path
) -> None:
    """Nothing catches up in this service (--no-follow), so what /readyz answers does not race
    a follower; the lag (25 events) is far below the allowed 1,000."""
    events = ingest(database_url, tmp_path, 5) + 5
    with serving(database_url, tmp_path, "--no-follow") as base:
        before = httpx.get(f"{base}/readyz")
        assert before.status_code == 503
        answer = before.json()
        assert (answer["ready"], answer["head_at_start"]) == (False, events)
        assert [p["lag"] for p in answer["projections"]] == [events] * 3
        caught_up = subprocess.run([*CLI, "project", "--database-url", database_url],
                                   capture_output=True, text=True, timeout=120)  # fmt: skip
        assert caught_up.returncode == 0, caught_up.stderr
        after = httpx.get(f"{base}/readyz")
        assert after.status_code == 200 and after.json()["ready"] is True


def test_every_middleware_passes_lifespan_and_websocket_scopes_through(database_url: str) -> None:
    """The service as `serve` assembles it: its start-up runs (the followers with it) and a
    websocket request meets the router (no such route: closed), not a middleware's KeyError."""
    app = app_for(Settings(database_url=database_url, http_follow=True))
    followers: list[str] = []

    async def lifespan() -> list[str]:
        shutdown = asyncio.Event()
        inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
        sent: list[str] = []

        async def receive() -> dict[str, Any]:
            if len(inbox) == 1:
                await shutdown.wait()
            return inbox.pop(0)

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message["type"])
            if message["type"] == "lifespan.startup.complete":
                names = [thread.name for thread in threading.enumerate()]
                followers.extend(name for name in names if name.startswith("follow-"))
                shutdown.set()

        await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
        return sent

    async def websocket() -> list[MutableMapping[str, Any]]:
        sent: list[MutableMapping[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "websocket.connect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "websocket", "asgi": {"version": "3.0"}, "path": "/v1/chats",
                 "raw_path": b"/v1/chats", "query_string": b"", "headers": [(b"host", b"x")],
                 "scheme": "ws", "server": ("127.0.0.1", 80), "subprotocols": []}  # fmt: skip
        await app(scope, receive, send)
        return sent

    assert [m["type"] for m in asyncio.run(websocket())] == ["websocket.close"]
    assert asyncio.run(lifespan()) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert sorted(followers) == ["follow-audit", "follow-messages", "follow-stats"]
