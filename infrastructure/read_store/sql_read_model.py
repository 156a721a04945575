"""Generations, positions and exactly-once batches for read models kept in SQL tables.

Tables of generation N are named `<table>_gN`; the plain name (`messages`, ...) is a SQL view of
the current generation, so analysts and queries never see a half-built one. Each generation has
a position row, advanced by compare-and-set in the transaction that writes its changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from chatledger.infrastructure.read_store.sql_database import Cursor, SqlDatabase
from chatledger.projections.quarantine import QuarantinedEvent
from chatledger.projections.views import Generations, PositionMovedError, ReadModelView

CONTROL_TABLES = (
    "CREATE TABLE IF NOT EXISTS read_model_generations (projection TEXT PRIMARY KEY, "
    "current_generation INTEGER NOT NULL, building_generation INTEGER)",
    "CREATE TABLE IF NOT EXISTS projection_positions (projection TEXT NOT NULL, "
    "generation INTEGER NOT NULL, position BIGINT NOT NULL, PRIMARY KEY (projection, generation))",
    # Events a generation skipped (projections/quarantine.py): where, which chat, why.
    "CREATE TABLE IF NOT EXISTS quarantined_events (projection TEXT NOT NULL, "
    "generation INTEGER NOT NULL, position BIGINT NOT NULL, chat_id TEXT NOT NULL, "
    "version BIGINT NOT NULL, topic TEXT NOT NULL, reason TEXT NOT NULL, "
    "quarantined_at TEXT NOT NULL, PRIMARY KEY (projection, generation, position))",
)
QUARANTINE_COLUMNS = "position, chat_id, version, topic, reason, quarantined_at"


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[tuple[str, str], ...]
    primary_key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()
    # Columns added after deployments created tables of this spec, last in `columns` and in
    # the order added, each with the value (SQL) that rows written before it get.
    added_columns: tuple[tuple[str, str], ...] = ()
    # False for tables that hold no content (ids, times, counts, hashes: what the event log
    # keeps in the clear anyway): their dropped pages need not be zeroed (docs/erasure.md).
    holds_content: bool = True

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def table(self, generation: int) -> str:
        return f"{self.name}_g{int(generation)}"

    def create(self, generation: int, *, indexed: bool = True) -> list[str]:
        table = self.table(generation)
        columns = ", ".join(f"{name} {kind}" for name, kind in self.columns)
        statements = [
            f"CREATE TABLE IF NOT EXISTS {table} ({columns}, "
            f"PRIMARY KEY ({', '.join(self.primary_key)}))"
        ]
        return statements + (self.create_indexes(generation) if indexed else [])

    def create_indexes(self, generation: int) -> list[str]:
        table = self.table(generation)
        return [
            f"CREATE INDEX IF NOT EXISTS {table}_i{number} ON {table} ({', '.join(index)})"
            for number, index in enumerate(self.indexes)
        ]

    def add_columns(self, generation: int, present: set[str]) -> list[str]:
        """What brings a generation's table created before `added_columns` up to date."""
        kinds = dict(self.columns)
        return [
            f"ALTER TABLE {self.table(generation)} ADD COLUMN {name} {kinds[name]} DEFAULT {value}"
            for name, value in self.added_columns
            if name not in present
        ]


class SqlReadModel(ReadModelView):
    """The SQL half of every view; subclasses say how to stage and write their changes."""

    spec: ClassVar[TableSpec]

    def __init__(self, database: SqlDatabase) -> None:
        super().__init__()
        self.database = database
        self.create_first_generation()

    # -- schema and generations --------------------------------------------------------------

    def create_first_generation(self) -> None:
        with self.database.transaction() as cursor:
            self.database.lock_schema(cursor)
            for statement in CONTROL_TABLES:
                cursor.execute(statement)
            cursor.execute(
                "SELECT 1 FROM read_model_generations WHERE projection = ?", (self.name,)
            )
            if cursor.fetchone() is None:
                cursor.execute(
                    "INSERT INTO read_model_generations VALUES (?, 1, NULL)", (self.name,)
                )
                self.create_generation(cursor, 1)
                self.point_view_at(cursor, 1)
            else:
                self.add_missing_columns(cursor)

    def add_missing_columns(self, cursor: Cursor) -> None:
        """Tables created by an earlier version gain the columns added since, in place: no
        rebuild. The view is created again, since PostgreSQL expanded its `*` at creation."""
        if not self.spec.added_columns:
            return
        cursor.execute(
            "SELECT current_generation, building_generation FROM read_model_generations "
            "WHERE projection = ?",
            (self.name,),
        )
        current, building = cursor.fetchone()
        for generation in {int(current), int(building or current)}:
            cursor.execute(f"SELECT * FROM {self.spec.table(generation)} WHERE 1 = 0")
            present = {column[0] for column in cursor.description}
            statements = self.spec.add_columns(generation, present)
            for statement in statements:
                cursor.execute(statement)
            if statements and generation == int(current):
                self.point_view_at(cursor, generation)

    def create_generation(self, cursor: Cursor, generation: int, *, indexed: bool = True) -> None:
        for statement in self.spec.create(generation, indexed=indexed):
            cursor.execute(statement)
        cursor.execute("INSERT INTO projection_positions VALUES (?, ?, 0)", (self.name, generation))

    def drop_generation(self, cursor: Cursor, generation: int) -> None:
        table = self.spec.table(generation)
        self.database.drop_table(cursor, table, zero_pages=self.spec.holds_content)
        for table in ("projection_positions", "quarantined_events"):
            cursor.execute(
                f"DELETE FROM {table} WHERE projection = ? AND generation = ?",
                (self.name, generation),
            )

    def point_view_at(self, cursor: Cursor, generation: int) -> None:
        cursor.execute(f"DROP VIEW IF EXISTS {self.spec.name}")
        cursor.execute(
            f"CREATE VIEW {self.spec.name} AS SELECT * FROM {self.spec.table(generation)}"
        )

    def generations(self) -> Generations:
        with self.database.transaction(write=False) as cursor:
            cursor.execute(
                "SELECT current_generation, building_generation FROM read_model_generations "
                "WHERE projection = ?",
                (self.name,),
            )
            current, building = cursor.fetchone()
        return Generations(int(current), None if building is None else int(building))

    def position(self, generation: int) -> int | None:
        with self.database.transaction(write=False) as cursor:
            cursor.execute(
                "SELECT position FROM projection_positions WHERE projection = ? AND generation = ?",
                (self.name, generation),
            )
            row = cursor.fetchone()
        return None if row is None else int(row[0])

    def start_generation(self, *, restart: bool = False) -> int:
        with self.database.transaction() as cursor:
            self.database.lock_schema(cursor)
            cursor.execute(
                "SELECT current_generation, building_generation FROM read_model_generations "
                "WHERE projection = ?",
                (self.name,),
            )
            current, building = cursor.fetchone()
            if building is not None and not restart:
                return int(building)  # resume the interrupted rebuild
            if building is not None:
                self.drop_generation(cursor, int(building))
            generation = max(int(current), int(building or 0)) + 1
            # Secondary indexes come at the switch: built once over the finished table, they
            # cost less than kept up to date row by row while it fills.
            self.create_generation(cursor, generation, indexed=False)
            cursor.execute(
                "UPDATE read_model_generations SET building_generation = ? WHERE projection = ?",
                (generation, self.name),
            )
            return generation

    def switch_to(self, generation: int) -> None:
        with self.database.transaction() as cursor:  # its own: the switch stays short
            for statement in self.spec.create_indexes(generation):
                cursor.execute(statement)
        with self.database.transaction() as cursor:
            self.database.lock_schema(cursor)
            cursor.execute(
                "SELECT current_generation FROM read_model_generations WHERE projection = ?",
                (self.name,),
            )
            (previous,) = cursor.fetchone()
            cursor.execute(
                "UPDATE read_model_generations SET current_generation = ?, "
                "building_generation = NULL WHERE projection = ?",
                (generation, self.name),
            )
            self.point_view_at(cursor, generation)
            if int(previous) != generation:
                self.drop_generation(cursor, int(previous))

    # -- batches ---------------------------------------------------------------------------------

    def commit(self, generation: int, expected_position: int) -> None:
        if self.last_tracking is None:
            return
        with self.database.transaction() as cursor:
            cursor.execute(
                "UPDATE projection_positions SET position = ? "
                "WHERE projection = ? AND generation = ? AND position = ?",
                (self.last_tracking.notification_id, self.name, generation, expected_position),
            )
            if cursor.rowcount != 1:
                raise PositionMovedError(f"{self.name} generation {generation} moved on")
            self.write(cursor, self.spec.table(generation), self.staged())
            if self.quarantined:
                cursor.executemany(
                    "INSERT INTO quarantined_events (projection, generation, "
                    f"{QUARANTINE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(self.name, generation, *event) for event in self.quarantined],
                )
        self.discard()

    def write(self, cursor: Cursor, table: str, staged: Any) -> None:
        """Write what the batch staged (its `ready` form) into a generation's table."""
        raise NotImplementedError

    def quarantined_events(
        self,
        chat_ids: Sequence[str] | None = None,
        limit: int = 1000,
        *,
        every_read_model: bool = False,
    ) -> list[QuarantinedEvent]:
        if chat_ids is not None and not chat_ids:
            return []
        where = ["1 = 1" if every_read_model else "q.projection = ?"]
        if chat_ids is not None:
            where.append(f"chat_id IN ({', '.join('?' * len(chat_ids))})")
        parameters = [] if every_read_model else [self.name]
        with self.database.transaction(write=False) as cursor:
            cursor.execute(
                f"SELECT q.projection, {QUARANTINE_COLUMNS} FROM quarantined_events q "
                "JOIN read_model_generations g ON g.projection = q.projection "
                f"AND g.current_generation = q.generation WHERE {' AND '.join(where)} "
                "ORDER BY position, q.projection LIMIT ?",
                (*parameters, *(chat_ids or ()), limit),
            )
            rows = cursor.fetchall()
        return [QuarantinedEvent(row[0], int(row[1]), row[2], int(row[3]), *row[4:])
                for row in rows]  # fmt: skip

    def quarantined_count(self, generation: int) -> int:
        with self.database.transaction(write=False) as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM quarantined_events WHERE projection = ? AND generation = ?",
                (self.name, generation),
            )
            return int(cursor.fetchone()[0])

    def close(self) -> None:
        self.database.close()

    def dump(self, generation: int | None = None) -> list[tuple[Any, ...]]:
        table = self.spec.table(generation or self.generations().current)
        with self.database.transaction(write=False) as cursor:
            cursor.execute(f"SELECT * FROM {table} ORDER BY {', '.join(self.spec.primary_key)}")
            return [tuple(row) for row in cursor.fetchall()]
