"""What the console's tests share: a served API with a checkpoint folder, chats that exercise
every part of the pages (hostile markup included), and sign-in over plain HTTP."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.security.checkpoints import DEFAULT_KEY, write_checkpoint
from chatledger.infrastructure.tokenizer.tiktoken_counter import TiktokenCounter
from tests.conftest import BACKENDS
from tests.http_server import Api, running_server, throwaway_database

# Markup that would run if a page did not escape it; `window.__pwned` shows that it ran.
HOSTILE = (
    '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
    '<b id="injected">bold</b>'
)
HOSTILE_ARGUMENTS = json.dumps({"q": HOSTILE})


def console_api() -> Any:
    """A module's `api`: the server over each backend, with a checkpoint folder."""

    @pytest.fixture(scope="module", params=BACKENDS)
    def api(
        request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory,
        token_counter: TiktokenCounter,
    ) -> Iterator[Api]:
        folder = tmp_path_factory.mktemp("console")
        (folder / "checkpoints").mkdir()
        with (
            throwaway_database(request.param, folder) as url,
            running_server(url, token_counter, checkpoint_dir=folder / "checkpoints") as api,
        ):
            yield api

    return api


def record_chats(pipeline: PersistencePipeline) -> None:
    """A support chat with every kind of message, a hostile one, and one whose user is erased."""
    pipeline.start_chat("chat-support", "ann", title="Charged twice", model="gpt-4o")
    pipeline.persist_message("chat-support", "ann", "system", "Be brief.", message_id="sys-1")
    pipeline.persist_user_message(
        "chat-support", "ann", "Why was I charged twice?", message_id="ask-1"
    )
    pipeline.persist_assistant_message(
        "chat-support",
        "ann",
        "",
        model="gpt-4o",
        message_id="call-1",
        finish_reasons=["tool_calls"],
        tool_calls=[{"id": "tc-1", "name": "lookup_invoice", "arguments": '{"invoice": 42}'}],
        usage={"input_tokens": 30, "output_tokens": 9},
    )
    pipeline.persist_message(
        "chat-support", "ann", "tool", '{"paid": 2}', message_id="tool-1", tool_call_id="tc-1"
    )
    opened = pipeline.open_stream("chat-support", "ann", model="gpt-4o", message_id="reply-1")
    assert opened.stream is not None
    for chunk in ["You were ", "refunded."]:
        opened.stream.add_chunk(chunk)
    pipeline.complete_stream(
        opened.stream, finish_reasons=["stop"], usage={"input_tokens": 50, "output_tokens": 4}
    )
    pipeline.persist_assistant_message(
        "chat-support",
        "ann",
        "",
        model="gpt-4o",
        message_id="fail-1",
        error_code="PROVIDER_TIMEOUT",
    )
    pipeline.start_chat("chat-hostile", "mallory", title=HOSTILE, model="gpt-4o")
    pipeline.persist_user_message(
        "chat-hostile",
        "mallory",
        HOSTILE,
        message_id="evil-1",
        metadata={"note": HOSTILE, HOSTILE: "key"},
    )
    pipeline.persist_assistant_message(
        "chat-hostile",
        "mallory",
        HOSTILE,
        model="gpt-4o",
        message_id="evil-2",
        tool_calls=[{"id": "tc-evil", "name": "search", "arguments": HOSTILE_ARGUMENTS}],
    )
    pipeline.start_chat("chat-zed", "zed", title="Forget me")
    pipeline.persist_user_message("chat-zed", "zed", "My address is 1 Main St", message_id="z-1")


def checkpoint_now(api: Api) -> None:
    folder = api.services.settings.checkpoint_dir
    assert folder is not None
    position = api.services.pipeline.recorder.max_notification_id() or 0
    write_checkpoint(
        api.services.pipeline, folder / DEFAULT_KEY.name, folder / f"checkpoint-{position}.json"
    )


@contextmanager
def signed_in(api: Api, secret: str) -> Iterator[httpx.Client]:
    """A client with a console session, signed in through the login form as a browser is."""
    with httpx.Client(base_url=api.base_url, timeout=30.0) as client:
        form = client.get("/console/login")
        answer = client.post("/console/login", data={"api_key": secret, "csrf": csrf_of(form.text)})
        assert answer.status_code == 303, answer.text
        yield client


def csrf_of(page: str) -> str:
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token is not None
    return token.group(1)
