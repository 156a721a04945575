"""`chatledger serve` as deployed: its own process, keys made with `chatledger keys`, JSON log
lines on stderr, a clean stop on SIGTERM; both backends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx

from chatledger.infrastructure.bench.http_api import CLI, free_port
from tests.console_support import csrf_of


def chatledger(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=60)


def test_serve_records_over_http_and_stops_on_sigterm(database_url: str) -> None:
    env = {**os.environ, "CHATLEDGER_DATABASE_URL": database_url, "CHATLEDGER_LOG_FORMAT": "json"}
    created = chatledger("keys", "create", "--user", "erin", "--json", env=env)
    key = json.loads(created.stdout)["api_key"]
    port = free_port()
    server = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    base, headers = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key}"}
    try:
        for _ in range(600):  # up to a minute on a loaded CI machine
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                time.sleep(0.1)
        started = httpx.post(f"{base}/v1/chats", headers=headers, json={"chat_id": "e-1"})
        recorded = httpx.post(f"{base}/v1/chats/e-1/messages/user", headers=headers,
                              json={"content": "secret words"})  # fmt: skip
        assert (started.status_code, recorded.status_code) == (201, 201)
        revoked = chatledger("keys", "revoke", json.loads(created.stdout)["key_id"], env=env)
        assert revoked.returncode == 0
        assert httpx.get(f"{base}/v1/stats", headers=headers).status_code == 401
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line["event"] == "http request"]
    assert {r["status"] for r in requests} >= {200, 201, 401}
    assert all(r["request_id"] for r in requests)
    assert "secret words" not in stderr and key not in stderr


def test_serve_without_the_server_extra_names_it() -> None:
    code = ("import sys; sys.modules['uvicorn'] = None\n"
            "from chatledger.infrastructure.cli.main import app\n"
            "app(['serve'])")  # fmt: skip
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert shown.returncode == 2, shown.stderr
    assert "pip install 'chatledger[server]'" in shown.stderr


def test_serve_with_workers_records_and_one_follower_keeps_the_read_models(
    database_url: str,
) -> None:
    env = {**os.environ, "CHATLEDGER_DATABASE_URL": database_url, "CHATLEDGER_LOG_FORMAT": "json"}
    key = json.loads(chatledger("keys", "create", "--user", "wes", "--json", env=env).stdout)
    port = free_port()
    server = subprocess.Popen([*CLI, "serve", "--port", str(port), "--workers", "2"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    base, headers = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key['api_key']}"}
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                assert server.poll() is None
                time.sleep(0.1)
        with httpx.Client(base_url=base, headers=headers) as client:
            assert client.post("/v1/chats", json={"chat_id": "w-1"}).status_code == 201
            statuses = {client.post("/v1/chats/w-1/messages/user",
                                    json={"content": f"hello {n}"}).status_code
                        for n in range(20)}  # fmt: skip
            assert statuses == {201}
            for _ in range(100):  # the supervising process follows the log for the workers
                lag = [p["lag"] for p in client.get("/readyz").json()["projections"]]
                if lag == [0, 0, 0]:
                    break
                time.sleep(0.1)
            assert lag == [0, 0, 0]
            assert client.get("/v1/stats").json()["stats"]["messages"] == 20
        auditor = json.loads(chatledger("keys", "create", "--user", "aud", "--role", "auditor",
                                        "--json", env=env).stdout)  # fmt: skip
        # A new connection per request: the workers take turns, and each knows the session.
        with httpx.Client(base_url=base, headers={"Connection": "close"}) as browser:
            form = browser.get("/console/login")
            signed = browser.post("/console/login", data={"api_key": auditor["api_key"],
                                                          "csrf": csrf_of(form.text)})  # fmt: skip
            assert signed.status_code == 303, signed.text
            pages = {browser.get("/console/search?user_id=wes").status_code for _ in range(20)}
            assert pages == {200}
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)


def test_the_help_names_the_extras_whole() -> None:
    """The help is rich markup: an unescaped [server] would vanish from it."""
    for command, extra in (("serve", "chatledger[server]"), ("bench", "chatledger[bench]")):
        shown = subprocess.run([*CLI, command, "--help"], capture_output=True, text=True,
                               env={**os.environ, "COLUMNS": "200"})  # fmt: skip
        assert extra in shown.stdout, shown.stdout
