"""Versions, positions, page sizes and times at and beyond their bounds, on every surface and
backend: a coded VALIDATION_ERROR naming the parameter and the form it wants (HTTP 422, CLI
exit 2), never a 500, an INTERNAL_ERROR or a traceback. SQLite and PostgreSQL integers are
signed 64-bit, and a time whose zone carries it past year 1 or 9999 in UTC is no time."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatledger.domain.query_bounds import INT64_MAX
from chatledger.infrastructure.http.console.routes import ROUTERS as CONSOLE_ROUTERS
from chatledger.infrastructure.http.context import query_parameters
from chatledger.infrastructure.http.paging import query_digest
from chatledger.infrastructure.ledger.ledger import Ledger
from chatledger.infrastructure.security.api_keys import Role
from tests.http_server import Api

CHAT, OWNER = "bounds-chat", "bounds-user"
EARLIEST_EAST = "0001-01-01T00:00:00+14:00"  # before year 1 in UTC
LATEST_WEST = "9999-12-31T23:59:59-14:00"  # after year 9999 in UTC
INTEGERS = [-(2**63) - 1, -(2**63), -1, 0, 1, INT64_MAX, INT64_MAX + 1, 10**30]
TIMES = [EARLIEST_EAST, LATEST_WEST, "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-12-07",
         "2026-12-07T10:00:00", "2026-12-07T10:00:00+01:00", "1700000000"]  # fmt: skip
GARBAGE = ["", " ", "abc", "1e400", "NaN", "-0", "0x10", "١٢", "2026-13-45T00:00Z", "9" * 400]
BOUNDARIES = [*(str(i) for i in INTEGERS), *TIMES, *GARBAGE]
# Derandomized: the same requests on every run (a failure repeats); `--hypothesis-seed` explores.
EXPLORE = settings(max_examples=60, deadline=None, database=None, derandomize=True,
                   suppress_health_check=list(HealthCheck))  # fmt: skip


def boundary_values() -> st.SearchStrategy[str]:
    """Each boundary, and times at any offset near the ends of the calendar."""
    offsets = st.integers(-1439, 1439).map(lambda m: timezone(timedelta(minutes=m)))
    ends = st.sampled_from([datetime.min, datetime.max, datetime(1970, 1, 1)])
    moments = st.builds(lambda at, zone: at.replace(tzinfo=zone).isoformat(), ends, offsets)
    return st.sampled_from(BOUNDARIES) | moments | st.integers().map(str)


@pytest.fixture
def recorded(ledger: Ledger) -> Ledger:
    assert ledger.start_chat(CHAT, OWNER).success
    assert ledger.persist_user_message(CHAT, OWNER, "hello", message_id="m1").success
    return ledger


def refused(result: Any, field: str) -> str:
    assert result.error is not None, result
    assert result.error.code == "VALIDATION_ERROR", result.error
    assert [e["field"] for e in result.error.details["errors"]] == [field]
    message: str = result.error.message
    assert message.startswith(f"{field}: ")
    return message


@pytest.mark.parametrize("version", [0, -1, INT64_MAX + 1, 10**30])
def test_a_version_beyond_the_stores_integers_is_refused_naming_it(
    recorded: Ledger, version: int
) -> None:
    refused(recorded.replay_chat(CHAT, OWNER, to_version=version), "to_version")
    assert recorded.replay_chat(CHAT, OWNER, to_version=INT64_MAX).chat is not None


@pytest.mark.parametrize("text", [EARLIEST_EAST, LATEST_WEST])
def test_a_time_beyond_the_calendar_in_utc_is_refused_by_every_query(
    recorded: Ledger, text: str
) -> None:
    message = refused(recorded.replay_chat(CHAT, OWNER, at=text), "at")
    assert "0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z" in message
    refused(recorded.audit_trail(OWNER, since=text), "since")
    refused(recorded.list_chats(OWNER, until=text), "until")
    refused(recorded.list_messages(CHAT, OWNER, since=text), "since")


def test_the_first_and_last_moments_of_the_calendar_are_times(recorded: Ledger) -> None:
    first, last = "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999+00:00"
    trail = recorded.audit_trail(OWNER, since=first, until=last)
    assert trail.success and len(trail.records) == 2
    assert [c["chat_id"] for c in recorded.list_chats(OWNER, since=first).chats] == [CHAT]
    assert recorded.list_messages(CHAT, OWNER, until=first).messages == []
    assert recorded.replay_chat(CHAT, OWNER, at=last).chat is not None


@pytest.mark.parametrize("naive", ["2026-12-07", "2026-12-07T10:00:00", datetime(2026, 12, 7)])
def test_a_time_without_its_zone_is_refused_the_same_way_everywhere(
    recorded: Ledger, naive: Any
) -> None:
    message = refused(recorded.replay_chat(CHAT, OWNER, at=naive), "at")
    assert "the time zone is missing: ISO 8601 with a time zone, e.g." in message
    refused(recorded.audit_trail(OWNER, until=naive), "until")
    refused(recorded.list_chats(OWNER, since=naive), "since")


def test_a_time_in_any_zone_is_the_same_moment(recorded: Ledger) -> None:
    recorded_at = datetime.fromisoformat(recorded.audit_trail(OWNER).records[1]["recorded_at"])
    later = recorded_at + timedelta(microseconds=1)
    east = later.astimezone(timezone(timedelta(hours=14))).isoformat()
    assert [r["message_id"] for r in recorded.audit_trail(OWNER, until=east).records] == [
        None, "m1"]  # fmt: skip
    assert recorded.audit_trail(OWNER, since=later.astimezone(UTC)).records == []


@pytest.mark.parametrize(("field", "value"), [("after_position", INT64_MAX + 1),
                         ("after_position", -1), ("limit", 0), ("limit", 1001)])  # fmt: skip
def test_positions_and_page_sizes_are_bounded(recorded: Ledger, field: str, value: int) -> None:
    refused(recorded.audit_trail(OWNER, **{field: value}), field)
    refused(recorded.list_messages(CHAT, OWNER, **{field: value}), field)
    assert recorded.audit_trail(OWNER, after_position=INT64_MAX).records == []


# The HTTP API: every integer and date-time parameter the OpenAPI document declares, and every
# query parameter of the console's pages.


def bounded_parameters(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(path, parameter, schema) of every integer or date-time query parameter of a GET."""
    found = []
    for path, item in document["paths"].items():
        for parameter in item.get("get", {}).get("parameters", []):
            schema = parameter["schema"]
            kinds = [schema, *schema.get("anyOf", [])]
            if any(k.get("type") == "integer" or k.get("format") == "date-time" for k in kinds):
                found.append((path, parameter["name"], schema))
    return found


def console_parameters() -> list[tuple[str, str]]:
    """(path, parameter) of every query parameter of the console's pages."""
    routes = [route for router in CONSOLE_ROUTERS for route in router.routes]
    return [(route.path, name) for route in routes
            if isinstance(route, APIRoute) and "GET" in (route.methods or ())
            for name in query_parameters(route)]  # fmt: skip


def placed(path: str) -> str:
    return (
        path.replace("{chat_id:path}", CHAT).replace("{chat_id}", CHAT).replace("{user_id}", OWNER)
    )


def answered_without_server_error(response: httpx.Response) -> None:
    """2xx, or a 4xx whose JSON body is a coded error (the console's forms: their page)."""
    assert response.status_code < 500, (response.request.url, response.text)
    if response.status_code >= 400 and response.headers["content-type"] == "application/json":
        assert response.json()["error"]["code"], response.text


@pytest.fixture(scope="module")
def document(api: Api) -> dict[str, Any]:
    with api.client(user_id=OWNER) as owner:
        assert owner.post("/v1/chats", json={"chat_id": CHAT}).status_code == 201
        assert owner.post(f"/v1/chats/{CHAT}/messages/user", json={"content": "hi"}).is_success
        found: dict[str, Any] = owner.get("/openapi.json").json()
    return found


def test_the_openapi_document_bounds_every_integer_parameter(document: dict[str, Any]) -> None:
    found = bounded_parameters(document)
    assert {(path, name) for path, name, _ in found} >= {
        ("/v1/chats/{chat_id}/replay", "to_version"), ("/v1/chats/{chat_id}/replay", "at"),
        ("/v1/audit", "limit"), ("/v1/audit", "since"), ("/v1/users/{user_id}/chats", "limit"),
        ("/v1/chats/{chat_id}/messages", "until"), ("/v1/stats", "hours"),
    }  # fmt: skip
    for path, name, schema in found:
        for integer in (
            k for k in (schema, *schema.get("anyOf", [])) if k.get("type") == "integer"
        ):
            assert integer.get("minimum") is not None, (path, name)
            assert integer.get("maximum", INT64_MAX + 1) <= INT64_MAX, (path, name)


def test_no_integer_or_time_parameter_answers_a_server_error(
    api: Api, document: dict[str, Any]
) -> None:
    parameters = bounded_parameters(document)
    with api.client(Role.auditor) as auditor:
        for path, name, _ in parameters:  # every boundary at every parameter
            for value in BOUNDARIES:
                answered_without_server_error(auditor.get(placed(path), params={name: value}))

        @EXPLORE
        @given(target=st.sampled_from(parameters), value=boundary_values())
        def explore(target: tuple[str, str, dict[str, Any]], value: str) -> None:
            path, name, _ = target
            answered_without_server_error(auditor.get(placed(path), params={name: value}))

        explore()


def test_the_out_of_range_requests_of_the_report_are_422_naming_the_parameter(
    api: Api, document: dict[str, Any]
) -> None:
    with api.client(Role.auditor) as auditor:
        cases = [(f"/v1/chats/{CHAT}/replay", "to_version", str(INT64_MAX + 1)),
                 ("/v1/audit", "since", EARLIEST_EAST), ("/v1/audit", "until", LATEST_WEST),
                 (f"/v1/chats/{CHAT}/messages", "since", LATEST_WEST),
                 (f"/v1/users/{OWNER}/chats", "until", EARLIEST_EAST),
                 (f"/v1/chats/{CHAT}/replay", "at", "2020-01-01")]  # fmt: skip
        for path, name, value in cases:
            answer = auditor.get(path, params={name: value})
            assert answer.status_code == 422, answer.text
            assert answer.json()["error"]["message"].startswith(f"query.{name}: "), answer.text


def test_a_cursor_made_to_hold_a_position_beyond_the_integers_is_refused(
    api: Api, document: dict[str, Any]
) -> None:
    query = {"user_id": OWNER, "since": None, "until": None}
    text = f"{INT64_MAX + 1}.{query_digest(query)}"  # the digest is no secret: a client can
    cursor = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    with api.client(Role.auditor) as auditor:
        answer = auditor.get(f"/v1/users/{OWNER}/chats", params={"cursor": cursor})
    assert answer.status_code == 422
    assert answer.json()["error"]["message"] == "query.cursor: not a cursor of this query"


def test_no_console_parameter_answers_a_server_error(api: Api, document: dict[str, Any]) -> None:
    parameters = console_parameters()
    assert {("/console/search", "after"), ("/console/erasures", "after"),
            ("/console/chats/{chat_id}/replay", "version")} <= set(parameters)  # fmt: skip
    with api.client(Role.auditor) as auditor:
        for path, name in parameters:
            for value in BOUNDARIES:
                answered_without_server_error(auditor.get(placed(path), params={name: value}))
        huge = auditor.get("/console/search", params={"after": str(INT64_MAX + 1)})
        assert huge.status_code == 422 and "query.after: " in huge.text


# The command line: one line naming the option and the form it wants, exit 2.

CLI_CASES = {
    "replay version": (["replay", CHAT, "--to-version", str(INT64_MAX + 1)], "--to-version",
                       "less than or equal to 9223372036854775807"),
    "replay date": (["replay", CHAT, "--at", "2020-01-01"], "--at", "the time zone is missing"),
    "audit east": (["audit", "--since", EARLIEST_EAST], "--since", "out of range"),
    "audit west": (["audit", "--until", LATEST_WEST], "--until", "out of range"),
    "audit date": (["audit", "--since", "2026-12-07"], "--since", "the time zone is missing"),
    "audit limit": (["audit", "--limit", "0"], "--limit", "greater than or equal to 1"),
    "proof date": (["export-proof", "--since", "2026-12-07"], "--since", "time zone is missing"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_the_command_line_refuses_them_naming_the_option(tmp_path: Path, case: str) -> None:
    arguments, option, problem = CLI_CASES[case]
    env = {**os.environ, "CHATLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/cli.sqlite",
           "COLUMNS": "300"}  # fmt: skip
    shown = subprocess.run([sys.executable, "-m", "chatledger", *arguments], env=env,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert shown.returncode == 2, shown.stderr
    assert "Traceback" not in shown.stderr
    naming = [line for line in shown.stderr.splitlines() if f"'{option}'" in line]
    assert len(naming) == 1 and problem in naming[0], shown.stderr
