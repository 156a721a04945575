"""Wiring: settings -> event store and tokenizer -> the persistence pipeline -> the read side.
Nothing here configures logging: a library logs through structlog and leaves its set-up to the
host application (the CLI and `serve` configure it for themselves)."""

from __future__ import annotations

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.domain.ports import CommandObserver, ContentProtector, TokenCounter
from chatledger.infrastructure.observability.structured_logging import StructlogCommandObserver
from chatledger.infrastructure.read_store.found_damage import QuarantinedWhenFound
from chatledger.infrastructure.read_store.read_models import read_model_database, sql_views
from chatledger.infrastructure.read_store.rebuild_worker import ChangesInAnotherProcess
from chatledger.infrastructure.security.content_encryption import AesGcmContent
from chatledger.infrastructure.security.content_keys import SqlKeyStore
from chatledger.infrastructure.settings import (
    DatabaseUnreachableError,
    Settings,
    eventsourcing_env,
)
from chatledger.infrastructure.store.sqlite_store import ensure_wal_mode
from chatledger.infrastructure.tokenizer.tiktoken_counter import TiktokenCounter
from chatledger.projections.read_side import ReadSide
from chatledger.projections.runner import ChangeMaker


def bootstrap(
    settings: Settings | None = None,
    *,
    token_counter: TokenCounter | None = None,
    protector: ContentProtector | None = None,
    observer: CommandObserver | None = None,
) -> PersistencePipeline:
    """Build the pipeline on the configured database. Tests pass settings and share a counter
    (loading an encoding takes a second); nothing here reads os.environ but Settings().
    Content is sealed with AES-GCM keys per user kept in the same database, unless another
    protector (a KMS-backed one) is given."""
    settings = settings or Settings()
    env = eventsourcing_env(settings)
    if "SQLITE_DBNAME" in env:
        ensure_wal_mode(env["SQLITE_DBNAME"], settings.lock_timeout_s)
    try:
        return PersistencePipeline(
            env,
            token_counter=token_counter or TiktokenCounter(),
            observer=observer or StructlogCommandObserver(),
            protector=protector or AesGcmContent(SqlKeyStore(read_model_database(settings))),
            damage_recorder=QuarantinedWhenFound(settings),
        )
    except Exception as error:
        problem = postgres_problem(env)
        if problem is None:
            raise
        raise DatabaseUnreachableError(f"PostgreSQL: {problem}") from error


def postgres_problem(env: dict[str, str]) -> str | None:
    """What keeps PostgreSQL from answering, if that is what went wrong."""
    if "POSTGRES_DBNAME" not in env:
        return None
    # Here: the driver is the `postgres` extra, which SQLite users do not install.
    from chatledger.infrastructure.store.postgres_store import connection_problem

    return connection_problem(env)


def build_read_side(
    settings: Settings,
    pipeline: PersistencePipeline,
    *,
    catch_up_on_read: bool | None = None,
    batch_size: int = 2000,
    change_maker: ChangeMaker | None = None,
) -> ReadSide:
    """Read-your-writes (catch up on every query) is the embedded default's behaviour. A
    rebuild stages its batches in worker processes where that pays (see
    ChangesInAnotherProcess), unless another change maker is given."""
    database = read_model_database(settings)
    if catch_up_on_read is None:
        catch_up_on_read = database.dialect == "sqlite"
    change_maker = change_maker or ChangesInAnotherProcess(settings, open_pipeline=bootstrap)
    return ReadSide(pipeline, sql_views(database), catch_up_on_read=catch_up_on_read,
                    batch_size=batch_size, change_maker=change_maker)  # fmt: skip
