"""A local model server that speaks OpenAI's chat-completions and Anthropic's messages wire
formats (JSON, and server-sent events when streamed), for the SDK drop-ins' tests and the bench.

The requested model picks the behaviour: `...-tools` answers with a tool call, `...-429` and
`...-500` fail with that status, `...-cut` streams a few chunks and drops the connection. The
reply text repeats the last user text, in chunks of a few characters."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chatledger.infrastructure.bench.provider_replies import (
    anthropic_events,
    anthropic_message,
    openai_chunks,
    openai_completion,
    planned_reply,
)


class ProviderHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes: with Nagle's algorithm, each answer on a
    # kept-alive connection would wait for the client's delayed ACK (40 ms).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read their own output
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        self.server.requests.append(request)  # type: ignore[attr-defined]
        anthropic = self.path.rstrip("/").endswith("/messages")
        plan = planned_reply(request, anthropic)
        if plan.status != 200:
            return self.send_json(plan.status, plan.error_body(anthropic))
        if not request.get("stream"):
            answer = anthropic_message(plan) if anthropic else openai_completion(plan, request)
            return self.send_json(200, answer)
        events = anthropic_events(plan) if anthropic else openai_chunks(plan, request)
        self.send_events(events, cut_after=3 if plan.cut else None)

    def send_json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(data)

    def send_events(self, events: list[str], cut_after: int | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            self.write_events(events, cut_after)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client stopped reading: nothing to answer

    def write_events(self, events: list[str], cut_after: int | None) -> None:
        for number, event in enumerate(events):
            if cut_after is not None and number == cut_after:
                self.close_connection = True
                self.connection.close()  # no final chunk: the client sees the body cut
                return
            data = event.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that drops its connection (a stream abandoned or cut on purpose) is what
        the tests do, not an error to print."""


@contextmanager
def provider_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A running server on 127.0.0.1: its base URL and the requests it received."""
    server = QuietServer(("127.0.0.1", 0), ProviderHandler)
    server.daemon_threads = True
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.requests  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
