"""Every error a person reads names the field and the problem, never the value sent: the
pipeline's VALIDATION_ERROR, the HTTP 422 body, the CLI's usage errors and the console's
erasure form (which keeps what was typed, escaped)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chatledger.infrastructure.ledger.ledger import Ledger
from chatledger.infrastructure.security.api_keys import Role
from tests.console_support import HOSTILE, console_api, csrf_of, signed_in
from tests.http_server import Api

api = console_api()
ID_PROBLEM = "String should match pattern '^[A-Za-z0-9][A-Za-z0-9._:@/+=#-]{0,127}$'"


def test_a_validation_error_says_field_and_problem_of_each(ledger: Ledger) -> None:
    started = ledger.start_chat("not an id", "also not one")
    assert started.error is not None
    assert started.error.message == f"chat_id: {ID_PROBLEM}; user_id: {ID_PROBLEM}"
    assert ledger.start_chat("chat-1", "ann").success
    call = {"id": "c1", "name": "f", "arguments": "{not json"}
    refused = ledger.persist_assistant_message("chat-1", "ann", "", tool_calls=[call])
    assert refused.error is not None  # a validator's own words, without pydantic's prefix
    assert refused.error.message == "tool_calls.0.arguments: arguments are not JSON text"
    assert refused.error.details["errors"][0]["problem"] == "arguments are not JSON text"


def test_a_422_says_field_and_problem_and_never_the_value(api: Api) -> None:
    with api.client() as client:
        assert client.post("/v1/chats", json={"chat_id": "chat-422"}).status_code == 201
        body = {"messages": [{"role": "wizard", "content": "x"}]}
        answer = client.post("/v1/chats/chat-422/messages", json=body)
        assert answer.status_code == 422
        error = answer.json()["error"]
        assert error["message"] == (
            "body.messages.0: 'role' should be one of 'system', 'developer', 'user', "
            "'assistant', 'tool'"
        )
        assert "wizard" not in answer.text  # pydantic's own message quotes the tag sent
        bad_time = client.get("/v1/audit", params={"since": "2026-12-07"}).json()["error"]
        assert bad_time["message"].startswith("query.since: the time zone is missing: ISO 8601")


@pytest.mark.parametrize(
    ("arguments", "line"),
    [
        (["--scope", "write"], "Invalid value for '--role', '--scope': only a service key has "
         "scopes of its own"),
        (["--role", "service"], "Invalid value for '--role', '--scope': a service key needs its "
         "scopes"),
        (["--user", "bad id"], f"Invalid value for '--user': {ID_PROBLEM}"),
    ],
)  # fmt: skip
def test_keys_create_names_the_option_and_the_problem(
    tmp_path: Path, arguments: list[str], line: str
) -> None:
    env = {**os.environ, "CHATLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/keys.sqlite",
           "COLUMNS": "300"}  # fmt: skip
    command = [sys.executable, "-m", "chatledger", "keys", "create", "--user", "u1", *arguments]
    shown = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 2, shown.stderr
    assert line in shown.stderr and "Traceback" not in shown.stderr


def test_the_erasure_form_says_what_is_wrong_and_keeps_what_was_typed(api: Api) -> None:
    eraser = api.services.keys.create("dpo-form", Role.service, ["audit", "erase"])
    with signed_in(api, eraser.secret) as client:
        form = client.get("/console/erasures")
        typed = {"user_id": "not an id", "reason": HOSTILE, "requested_by": "dpo-1"}
        answer = client.post("/console/erasures", data={**typed, "csrf": csrf_of(form.text)})
    assert answer.status_code == 422
    page = answer.text
    assert "VALIDATION_ERROR: user_id: String should match pattern" in page
    assert 'name="user_id" required value="not an id"' in page
    assert 'name="requested_by" required value="dpo-1"' in page
    assert 'value="&lt;script&gt;window.__pwned = 1&lt;/script&gt;&lt;img src=x onerror=' in page
    assert HOSTILE not in page  # shown as text, never as markup
    with signed_in(api, eraser.secret) as client:
        fresh = client.get("/console/erasures").text
    assert 'name="user_id" required value=""' in fresh
