"""The three read models in SQL, the same statements on SQLite and PostgreSQL."""

from __future__ import annotations

import typing
from collections.abc import Sequence
from typing import Any

from chatledger.domain.ports import ERASED_CONTENT
from chatledger.infrastructure.read_store.sql_database import Cursor
from chatledger.infrastructure.read_store.sql_read_model import SqlReadModel, TableSpec
from chatledger.projections.batches import MessageWrites
from chatledger.projections.listing import MessageFilter
from chatledger.projections.rows import ERASED_METADATA, AuditEntry, MessageClosed, MessageRow
from chatledger.projections.stats import ALL_TIME
from chatledger.projections.views import AuditFilter, AuditIndexView, MessageTableView, StatsView

TEXT, INT, BIG, REAL = "TEXT", "INTEGER", "BIGINT", "DOUBLE PRECISION"
_KINDS = {str: TEXT, int: BIG, float: REAL}


def _columns(row_type: type[Any], not_null: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    hints = typing.get_type_hints(row_type)
    columns = []
    for name, hint in hints.items():
        kinds = set(typing.get_args(hint)) or {hint}
        kind = next((sql for py, sql in _KINDS.items() if py in kinds), TEXT)
        columns.append((name, f"{kind} NOT NULL" if name in not_null else kind))
    return tuple(columns)


MESSAGES = TableSpec(
    name="messages",
    columns=_columns(MessageRow, ("chat_id", "message_id", "user_id", "role", "status")),
    primary_key=("chat_id", "message_id"),
    indexes=(("user_id", "created_at"),),  # chat lookups use the primary key
    # Rows projected before a column existed came from events without it: no personal
    # metadata, and none of what every role, parts and generation facts brought (NULL).
    added_columns=(
        ("personal_metadata", "'{}'"),
        *((name, "NULL") for name in MessageRow._fields[MessageRow._fields.index("name") :]),
    ),
)
CLOSED_FIELDS = MessageClosed._fields[2:]
# What a row says of its event, for verify (projections/row_check.py); keys looked up a batch at
# a time stay well under SQLite's limit on bound parameters.
ROW_CLAIMS = ("chat_id", "message_id", "user_id", "role", "version", "event_hash", "position")
KEYS_PER_QUERY = 400
STATS = TableSpec(
    name="stats_counters",
    columns=(
        ("scope", "TEXT NOT NULL"),
        ("bucket", "TEXT NOT NULL"),
        ("metric", "TEXT NOT NULL"),
        ("key", "TEXT NOT NULL"),
        ("value", "BIGINT NOT NULL"),
    ),
    primary_key=("scope", "bucket", "metric", "key"),
    holds_content=False,
)
AUDIT = TableSpec(
    name="audit_index",
    columns=_columns(AuditEntry, ("position", "recorded_at", "chat_id", "user_id", "event_type")),
    primary_key=("position",),
    indexes=(
        ("user_id", "position"),
        ("chat_id", "position"),
        ("message_id",),
        ("event_type", "position"),
        ("recorded_at",),
    ),
    holds_content=False,
)


class SqlMessageTable(SqlReadModel, MessageTableView):
    spec = MESSAGES

    def write(self, cursor: Cursor, table: str, staged: MessageWrites) -> None:
        rows, closes, erased_users = staged
        # Rows first: a stream whose row an earlier batch inserted is closed by an UPDATE.
        # A plain INSERT: the position's compare-and-set already makes each event apply once,
        # so a duplicate key here would be a bug to surface, not a retry to absorb.
        self.database.insert_rows(cursor, table, self.spec.column_names, rows)
        cursor.executemany(
            f"UPDATE {table} SET {', '.join(f'{n} = ?' for n in CLOSED_FIELDS)} "
            "WHERE chat_id = ? AND message_id = ?",
            closes,
        )
        # Last: rows of this batch that were unsealed before the erasure are purged too. Rows
        # unsealed after it already read ERASED_CONTENT; empty content stays empty, as a
        # rebuild (which unseals everything after the key is gone) leaves it.
        cursor.executemany(
            f"UPDATE {table} SET content = ? WHERE user_id = ? AND content IS NOT NULL "
            "AND content <> '' AND content <> ?",
            [(ERASED_CONTENT, user_id, ERASED_CONTENT) for user_id in erased_users],
        )
        cursor.executemany(
            f"UPDATE {table} SET personal_metadata = ? WHERE user_id = ? "
            "AND personal_metadata <> ? AND personal_metadata <> ?",
            [(ERASED_METADATA, user_id, "{}", ERASED_METADATA) for user_id in erased_users],
        )
        # What people and models wrote beside the content goes whole (changes.erased).
        cursor.executemany(
            f"UPDATE {table} SET parts = CASE WHEN parts IS NULL THEN NULL ELSE ? END, "
            "tool_calls = CASE WHEN tool_calls IS NULL THEN NULL ELSE ? END, "
            "refusal = CASE WHEN refusal IS NULL THEN NULL ELSE ? END, "
            "name = CASE WHEN name IS NULL THEN NULL ELSE ? END WHERE user_id = ? AND (parts "
            "IS NOT NULL OR tool_calls IS NOT NULL OR refusal IS NOT NULL OR name IS NOT NULL)",
            [
                (ERASED_METADATA, ERASED_METADATA, ERASED_CONTENT, ERASED_CONTENT, user)
                for user in erased_users
            ],
        )

    def messages(self, chat_id: str) -> list[dict[str, Any]]:
        with self.database.transaction(write=False) as cursor:
            cursor.execute(
                f"SELECT * FROM {self.spec.name} WHERE chat_id = ? ORDER BY position", (chat_id,)
            )
            return [
                dict(zip(self.spec.column_names, row, strict=True)) for row in cursor.fetchall()
            ]

    def page(
        self, chat_id: str, where: MessageFilter, after_position: int, limit: int
    ) -> list[dict[str, Any]]:
        conditions, params = ["chat_id = ?", "position > ?"], [chat_id, after_position]
        for column, value in (("role", where.role), ("model", where.model),
                              ("status", where.status)):  # fmt: skip
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(value)
        for condition, value in (("created_at >= ?", where.since), ("created_at < ?", where.until)):
            if value is not None:
                conditions.append(condition)
                params.append(value)
        with self.database.transaction(write=False) as cursor:
            cursor.execute(
                f"SELECT * FROM {self.spec.name} WHERE {' AND '.join(conditions)} "
                "ORDER BY position LIMIT ?", (*params, limit),
            )  # fmt: skip
            names = self.spec.column_names
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def counts(self, chat_ids: Sequence[str] | None) -> dict[str, int]:
        if chat_ids is not None and not chat_ids:
            return {}
        where = "" if chat_ids is None else f"WHERE chat_id IN ({', '.join('?' * len(chat_ids))})"
        with self.database.transaction(write=False) as cursor:
            cursor.execute(
                f"SELECT chat_id, count(*) FROM {self.spec.name} {where} GROUP BY chat_id",
                list(chat_ids or ()),
            )
            return {chat_id: int(count) for chat_id, count in cursor.fetchall()}

    def rows_of(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        found = {}
        with self.database.transaction(write=False) as cursor:
            for start in range(0, len(keys), KEYS_PER_QUERY):
                chunk = keys[start : start + KEYS_PER_QUERY]
                # A join, not `IN (VALUES ...)`, which SQLite answers with a scan of the table.
                cursor.execute(
                    f"WITH k (c, m) AS (VALUES {', '.join(['(?, ?)'] * len(chunk))}) SELECT "
                    f"{', '.join(f'r.{name}' for name in ROW_CLAIMS)} FROM k JOIN "
                    f"{self.spec.name} r ON r.chat_id = k.c AND r.message_id = k.m",
                    [value for key in chunk for value in key],
                )
                for row in cursor.fetchall():
                    found[row[0], row[1]] = dict(zip(ROW_CLAIMS, row, strict=True))
        return found


class SqlStats(SqlReadModel, StatsView):
    spec = STATS

    def write(self, cursor: Cursor, table: str, staged: list[tuple[Any, ...]]) -> None:
        self.database.add_to_counters(
            cursor, table, self.spec.primary_key, staged, staging=f"{self.spec.name}_added"
        )

    def counters(self, scope: str, since_hour: str | None) -> list[tuple[str, str, int]]:
        # Hour buckets are ISO text ("2026-11-26T05") and sort below "all".
        where = "bucket = ?" if since_hour is None else "bucket >= ? AND bucket < ?"
        params = (scope, ALL_TIME) if since_hour is None else (scope, since_hour, ALL_TIME)
        with self.database.transaction(write=False) as cursor:
            cursor.execute(
                f"SELECT metric, key, SUM(value) FROM {self.spec.name} WHERE scope = ? AND {where} "
                "GROUP BY metric, key",
                params,
            )
            return [(metric, key, int(value)) for metric, key, value in cursor.fetchall()]

    def hourly(self, scope: str, metric: str, since_hour: str) -> list[tuple[str, int]]:
        with self.database.transaction(write=False) as cursor:
            cursor.execute(
                f"SELECT bucket, SUM(value) FROM {self.spec.name} WHERE scope = ? AND "
                "metric = ? AND bucket >= ? AND bucket < ? GROUP BY bucket ORDER BY bucket",
                (scope, metric, since_hour, ALL_TIME),
            )
            return [(bucket, int(value)) for bucket, value in cursor.fetchall()]


class SqlAuditIndex(SqlReadModel, AuditIndexView):
    spec = AUDIT

    def write(self, cursor: Cursor, table: str, staged: list[tuple[Any, ...]]) -> None:
        self.database.insert_rows(cursor, table, self.spec.column_names, staged)

    def entries(
        self, where: AuditFilter, after_position: int = 0, limit: int = 1000
    ) -> list[AuditEntry]:
        conditions, params = self.conditions(where, after_position)
        with self.database.transaction(write=False) as cursor:
            cursor.execute(
                f"SELECT * FROM {self.spec.name} WHERE {conditions} ORDER BY position LIMIT ?",
                (*params, limit),
            )
            return [AuditEntry(*row) for row in cursor.fetchall()]

    def chats(self, where: AuditFilter, before_position: int | None, limit: int) -> list[Any]:
        conditions, params = self.conditions(where, 0)
        having, extra = (
            ("HAVING max(position) < ? ", [before_position]) if before_position else ("", [])
        )
        with self.database.transaction(write=False) as cursor:
            cursor.execute(
                "SELECT chat_id, min(recorded_at), max(recorded_at), count(*), max(position) "
                f"FROM {self.spec.name} WHERE {conditions} GROUP BY chat_id {having}"
                "ORDER BY max(position) DESC LIMIT ?", (*params, *extra, limit),
            )  # fmt: skip
            return list(cursor.fetchall())

    def count(self, where: AuditFilter) -> int:
        conditions, params = self.conditions(where, 0)
        with self.database.transaction(write=False) as cursor:
            cursor.execute(f"SELECT count(*) FROM {self.spec.name} WHERE {conditions}", params)
            return int(cursor.fetchone()[0])

    @staticmethod
    def conditions(where: AuditFilter, after_position: int) -> tuple[str, list[Any]]:
        """The WHERE clause of a filter: values always as parameters."""
        conditions: list[str] = ["position > ?"]
        params: list[Any] = [after_position]
        for column, value in (("user_id", where.user_id), ("chat_id", where.chat_id),
                              ("message_id", where.message_id)):  # fmt: skip
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(value)
        if where.event_types:
            conditions.append(f"event_type IN ({', '.join('?' * len(where.event_types))})")
            params.extend(where.event_types)
        if where.since is not None:
            conditions.append("recorded_at >= ?")
            params.append(where.since)
        if where.until is not None:
            conditions.append("recorded_at < ?")
            params.append(where.until)
        return " AND ".join(conditions), params
