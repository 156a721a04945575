"""PostgreSQL settings at work: CHATLEDGER_POSTGRES_POOL_SIZE bounds the connections of a process
(every pool of it together), every pool gives up within CHATLEDGER_POSTGRES_CONNECT_TIMEOUT_S,
and a schema the URL names that does not exist is refused, saying how to create it."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import OperationalError

from chatledger import Ledger, Settings
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.read_store.following import following
from chatledger.infrastructure.read_store.postgres_database import PostgresDatabase
from chatledger.infrastructure.settings import (
    DatabaseUnreachableError,
    SchemaMissingError,
    eventsourcing_env,
    pool_shares,
)
from chatledger.infrastructure.tokenizer.tiktoken_counter import TiktokenCounter
from tests.conftest import postgres_base_url

POOL_NAMES = {"chatledger events", "chatledger read models"}


@contextmanager
def own_database() -> Iterator[tuple[str, str]]:
    """A throwaway database of the test cluster (its URL and name): pg_stat_activity names the
    database of each connection, so that the connections counted are this test's alone."""
    base = postgres_base_url()
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{base.rsplit('/', 1)[0]}/{name}", name
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


class ConnectionWatch:
    """Samples the connections to one database until stopped: the most seen at once, by name."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.peak: dict[str, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)

    def watch(self) -> None:
        query = ("SELECT application_name, count(*) FROM pg_stat_activity "
                 "WHERE datname = %s GROUP BY application_name")  # fmt: skip
        with psycopg.connect(postgres_base_url(), autocommit=True) as connection:
            while not self.stop.is_set():
                seen: dict[str, int] = dict(connection.execute(query, (self.database,)).fetchall())
                if sum(seen.values()) > sum(self.peak.values()):
                    self.peak = seen
                self.stop.wait(0.005)

    def __enter__(self) -> ConnectionWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def busy(ledger: Ledger, chats: int = 6, messages: int = 15) -> None:
    """Writes to several chats and reads their statistics and lists, all at once."""

    def write(chat: str) -> None:
        assert ledger.start_chat(chat, "alice", model="gpt-4o").success
        for number in range(messages):
            result = ledger.persist_user_message(chat, "alice", f"message {number}",
                                                 message_id=f"m{number}")  # fmt: skip
            assert result.success, result.error

    def read(chat: str) -> None:
        for _ in range(messages):
            assert ledger.stats("alice").success
            assert ledger.list_chats("alice").success

    threads = [threading.Thread(target=work, args=(f"chat-{n}",))
               for n in range(chats) for work in (write, read)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.mark.parametrize("pool_size", [3, 10])
def test_the_pool_size_bounds_every_connection_of_a_process(
    pool_size: int, token_counter: TiktokenCounter
) -> None:
    with own_database() as (url, name), ConnectionWatch(name) as watch:
        settings = Settings(database_url=url, postgres_pool_size=pool_size)
        with Ledger(settings=settings, token_counter=token_counter) as ledger:
            with following(ledger.read_side, poll_seconds=0.01):
                busy(ledger)
            assert ledger.stats("alice").stats.messages == 6 * 15  # type: ignore[union-attr]

    assert 0 < sum(watch.peak.values()) <= pool_size, watch.peak
    assert set(watch.peak) <= POOL_NAMES, watch.peak  # pg_stat_activity names each pool
    shares = pool_shares(pool_size)
    assert watch.peak.get("chatledger events", 0) <= shares.events
    assert watch.peak.get("chatledger read models", 0) <= shares.read_models


@contextmanager
def silent_server() -> Iterator[int]:
    """A local port that accepts connections and never answers: libpq connects at the TCP level
    and then waits for the server's reply, until its connect timeout."""
    accepted: list[socket.socket] = []
    with closing(socket.create_server(("127.0.0.1", 0))) as listener:

        def accept() -> None:
            while True:
                try:
                    accepted.append(listener.accept()[0])
                except OSError:
                    return

        threading.Thread(target=accept, daemon=True).start()
        try:
            yield listener.getsockname()[1]
        finally:
            for connection in accepted:
                connection.close()


TIMEOUT_S = 3
MARGIN_S = 2.0  # a bound, not a benchmark: before, each took two to six times the timeout


def open_a_ledger(settings: Settings) -> None:
    Ledger(settings=settings, token_counter=TiktokenCounter())


def use_the_event_stores_pool(settings: Settings) -> None:
    """The event store's pool alone (bootstrap checks the server before it opens one)."""
    env = eventsourcing_env(settings)
    PersistencePipeline(env, token_counter=TiktokenCounter())


def use_the_read_models_pool(settings: Settings) -> None:
    """The read models' pool alone, as the read side opens it after that check."""
    env = eventsourcing_env(settings)
    conninfo = {"host": env["POSTGRES_HOST"], "port": env["POSTGRES_PORT"],
                "dbname": env["POSTGRES_DBNAME"], "user": env["POSTGRES_USER"],
                "password": env["POSTGRES_PASSWORD"], "connect_timeout": TIMEOUT_S}  # fmt: skip
    database = PostgresDatabase(conninfo, "", pool_size=1, lock_timeout_s=1)
    try:
        with database.transaction() as cursor:
            cursor.execute("SELECT 1")
    finally:
        database.close()


@pytest.mark.parametrize(
    ("use", "failure"),
    [(open_a_ledger, DatabaseUnreachableError), (use_the_event_stores_pool, OperationalError),
     (use_the_read_models_pool, OperationalError)],
    ids=["ledger", "event store", "read models"],
)  # fmt: skip
def test_every_pool_gives_up_within_the_connect_timeout(
    use: Callable[[Settings], Any], failure: type[Exception]
) -> None:
    with silent_server() as port:
        url = f"postgresql://u:a-long-password@127.0.0.1:{port}/db"
        settings = Settings(database_url=url, postgres_connect_timeout_s=TIMEOUT_S)
        started = time.monotonic()
        with pytest.raises(failure):
            use(settings)
        elapsed = time.monotonic() - started  # a pool closed as it failed waited for its attempts

    assert elapsed < TIMEOUT_S + MARGIN_S, f"gave up after {elapsed:.1f} s"


def test_a_schema_that_does_not_exist_is_refused_saying_how_to_create_it(
    token_counter: TiktokenCounter,
) -> None:
    missing = f"absent_{uuid.uuid4().hex[:8]}"
    url = f"{postgres_base_url()}?schema={missing}"

    with pytest.raises(SchemaMissingError, match=f'CREATE SCHEMA "{missing}"'):
        Ledger(url, token_counter=token_counter)
    cli = subprocess.run([sys.executable, "-m", "chatledger", "status", "--database-url", url],
                         capture_output=True, text=True, timeout=120)  # fmt: skip

    assert cli.returncode == 3
    assert f'CREATE SCHEMA "{missing}"' in " ".join(cli.stderr.split())
    with psycopg.connect(postgres_base_url()) as connection:
        found = connection.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %s", (missing,)
        ).fetchone()
    assert found is None  # nothing was created


def test_a_pool_size_too_small_for_the_two_pools_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="postgres_pool_size"):
        Settings(postgres_pool_size=2)
