"""Hostile values through every read-model query and audit filter (both backends): the SQL stays
parameterised (an injection payload matches only itself: the answer equals the filter applied in
Python to every row), tables stay intact, and the queries users call answer with codes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.cli.main import app
from chatledger.projections.read_side import ReadSide
from chatledger.projections.rows import AuditEntry
from chatledger.projections.views import AuditFilter
from tests.reliability_figures import record_figures
from tests.test_hostile_input import SLOW_IS_FINE, anything, assert_coded

INJECTIONS = [
    "' OR '1'='1", "x' OR 1=1 --", "'; DROP TABLE audit_index; --", '" OR ""="', "\\' OR 1=1 #",
    ") OR (1=1", "alice' --", "*/ OR 1=1 /*", "%", "_", "?", "%s", "$1", "'||'", "chat-1' AND '1",
    "UserMessageRecorded' OR event_type <> '", "9999-12-31' OR '1'='1",
]  # fmt: skip
EXISTING = ["alice", "bob", "chat-1", "chat-2", "m-1", "m-2", "UserMessageRecorded", "Started"]
# Text a driver can bind: no NUL (PostgreSQL text cannot hold it) and no lone surrogates (not
# UTF-8); the queries users call reject both before any SQL (tested below).
bindable = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
hostile = st.one_of(st.sampled_from(INJECTIONS), st.sampled_from(EXISTING), bindable)
ascii_hostile = st.one_of(
    st.sampled_from(INJECTIONS), st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E))
)
audit_filters = st.builds(
    AuditFilter,
    user_id=st.none() | hostile,
    chat_id=st.none() | hostile,
    message_id=st.none() | hostile,
    event_types=st.lists(hostile, max_size=3).map(tuple),
    since=st.none() | ascii_hostile,  # compared as text: ASCII sorts alike everywhere
    until=st.none() | ascii_hostile,
)
# Examples per backend: docs/reliability.md quotes them, and each test checks that it ran them all.
AUDIT_FILTERS, VIEW_VALUES, USER_QUERIES = 150, 100, 60


@pytest.fixture
def populated(pipeline: PersistencePipeline, read_side: ReadSide) -> ReadSide:
    for user, chat in (("alice", "chat-1"), ("bob", "chat-2")):
        assert pipeline.start_chat(chat, user, model="gpt-4o").success
        for index in (1, 2):
            message_id = f"m-{index}"
            assert pipeline.persist_user_message(chat, user, "hi", message_id=message_id).success
    read_side.catch_up()
    return read_side


def matches(entry: AuditEntry, where: AuditFilter) -> bool:
    return (
        where.user_id in (None, entry.user_id)
        and where.chat_id in (None, entry.chat_id)
        and where.message_id in (None, entry.message_id)
        and (not where.event_types or entry.event_type in where.event_types)
        and (where.since is None or entry.recorded_at >= where.since)
        and (where.until is None or entry.recorded_at < where.until)
    )


def test_audit_filters_match_only_what_they_say(populated: ReadSide, backend: str) -> None:
    tried = 0

    @settings(SLOW_IS_FINE, max_examples=AUDIT_FILTERS)
    @given(where=audit_filters)
    def check(where: AuditFilter) -> None:
        nonlocal tried
        every = populated.audit.entries(AuditFilter(), limit=1000)
        expected = [entry for entry in every if matches(entry, where)]
        assert populated.audit.entries(where, limit=1000) == expected
        assert populated.audit.count(where) == len(expected)
        assert len(populated.audit.entries(AuditFilter(), limit=1000)) == len(every)  # intact
        tried += 1

    check()
    assert tried == AUDIT_FILTERS
    record_figures(f"hostile-sql-{backend}", audit_filters=tried)


def test_message_and_stats_views_bind_their_values(populated: ReadSide, backend: str) -> None:
    tried = 0

    @settings(SLOW_IS_FINE, max_examples=VIEW_VALUES)
    @given(value=hostile, hour=st.none() | ascii_hostile)
    def check(value: str, hour: str | None) -> None:
        nonlocal tried
        before = {name: runner.view.dump() for name, runner in populated.runners.items()}
        rows = populated.messages.messages(value)
        expected = [value] * 2 if value in ("chat-1", "chat-2") else []
        assert [r["chat_id"] for r in rows] == expected
        scopes = {row[0] for row in before["stats"]}
        counters = populated.stats.counters(value, hour)
        assert counters == [] or value in scopes
        assert {n: r.view.dump() for n, r in populated.runners.items()} == before
        tried += 1

    check()
    assert tried == VIEW_VALUES
    record_figures(f"hostile-sql-{backend}", view_values=tried)


FIELDS = ["user_id", "chat_id", "message_id", "event_types", "since", "until", "after_position",
          "limit", "with_content", "time_range_hours", "to_version", "at"]  # fmt: skip


def test_user_queries_answer_hostile_input_with_codes(populated: ReadSide, backend: str) -> None:
    """Stats, audit trail and replay validate every field before any SQL: coded answers only."""
    tried = 0

    @settings(SLOW_IS_FINE, max_examples=USER_QUERIES)
    @given(field=st.sampled_from(FIELDS), value=anything)
    def check(field: str, value: Any) -> None:
        nonlocal tried
        owner = {"user_id": "alice", "chat_id": "chat-1"}

        def given_to(names: tuple[str, ...]) -> dict[str, Any]:
            return owner | ({field: value} if field in names else {})

        stats = given_to(("user_id", "chat_id", "time_range_hours"))
        trail = given_to(("user_id", "chat_id", "message_id", "event_types", "since", "until",
                          "after_position", "limit", "with_content"))  # fmt: skip
        replay = given_to(("user_id", "chat_id", "to_version", "at"))
        assert_coded(populated.get_message_persistence_stats(**stats))
        assert_coded(populated.audit_trail(**trail))
        assert_coded(populated.replay_chat(**replay))
        tried += 1

    check()
    assert tried == USER_QUERIES
    record_figures(f"hostile-sql-{backend}", user_queries=3 * tried)


@pytest.mark.parametrize(
    "option",
    [["--user", "\udcff"], ["--chat", "' OR '1'='1"], ["--message", "m\x00"],
     ["--event-type", "x' OR 1=1 --"], ["--since", "' OR '1'='1"], ["--until", "yesterday"]],
)  # fmt: skip
def test_the_audit_command_refuses_hostile_filters_as_usage_errors(
    populated: ReadSide, database_url: str, option: list[str]
) -> None:
    """Undecodable argv bytes arrive as lone surrogates: they crashed the export with a
    UnicodeEncodeError traceback before the filter was validated."""
    result = CliRunner().invoke(app, ["audit", "--database-url", database_url, *option])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
