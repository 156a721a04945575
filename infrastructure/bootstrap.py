"""Wiring: settings -> event store and tokenizer -> the persistence pipeline -> the read side.
Nothing here configures logging: a library logs through structlog and leaves its set-up to the
host application (the CLI and `serve` configure it for themselves)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from time import perf_counter

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.domain.ports import CommandObserver, ContentProtector, TokenCounter
from chatledger.infrastructure.observability.structured_logging import StructlogCommandObserver
from chatledger.infrastructure.read_store.found_damage import QuarantinedWhenFound
from chatledger.infrastructure.read_store.read_models import read_model_database, sql_views
from chatledger.infrastructure.read_store.rebuild_worker import ChangesInAnotherProcess
from chatledger.infrastructure.read_store.sql_database import SqlDatabase
from chatledger.infrastructure.security.content_encryption import AesGcmContent
from chatledger.infrastructure.security.content_keys import SqlKeyStore
from chatledger.infrastructure.settings import Settings, eventsourcing_env
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
    clock: Callable[[], float] = perf_counter,
) -> PersistencePipeline:
    """Build the pipeline on the configured database. Tests pass settings and share a counter
    (loading an encoding takes a second), and may pass the clock that messages' processing
    times are measured with; nothing here reads os.environ but Settings().
    Content is sealed with AES-GCM keys per user kept in the same database, unless another
    protector (a KMS-backed one) is given."""
    settings = settings or Settings()
    env = eventsourcing_env(settings)
    if "SQLITE_DBNAME" in env:
        ensure_wal_mode(env["SQLITE_DBNAME"], settings.lock_timeout_s)
    with ExitStack() as on_failure:
        if protector is None:  # the read models' database checks PostgreSQL before any pool
            database = read_model_database(settings)
            on_failure.callback(database.close)
            protector = AesGcmContent(SqlKeyStore(database))
        elif "POSTGRES_DBNAME" in env:
            check_postgres(env)
        pipeline = PersistencePipeline(
            env,
            token_counter=token_counter or TiktokenCounter(),
            observer=observer or StructlogCommandObserver(),
            protector=protector,
            clock=clock,
            damage_recorder=QuarantinedWhenFound(partial(read_models_of, settings, protector)),
        )
        on_failure.pop_all()
    return pipeline


def check_postgres(env: dict[str, str]) -> None:
    """That the server answers and the schema exists, before any pool opens."""
    # Here: the driver is the `postgres` extra, which SQLite users do not install.
    from chatledger.infrastructure.store.postgres_store import check_database

    check_database(env)


def shared_read_models(settings: Settings, pipeline: PersistencePipeline) -> SqlDatabase:
    """The read models' database of the pipeline's process, held once more (close it once):
    the one its content keys live in, so that one pool serves the key store, the read side and
    the HTTP service's stores, and CHATLEDGER_POSTGRES_POOL_SIZE bounds the process. A pipeline
    that seals with a protector of its own has none: a new one then."""
    return read_models_of(settings, pipeline.protector)


def read_models_of(settings: Settings, protector: ContentProtector) -> SqlDatabase:
    """The read models' database that `protector` keeps its keys in, held once more, or a new
    one where it keeps them elsewhere."""
    if isinstance(protector, AesGcmContent) and isinstance(protector.keys, SqlKeyStore):
        return protector.keys.database.shared()
    return read_model_database(settings)


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
    database = shared_read_models(settings, pipeline)
    if catch_up_on_read is None:
        catch_up_on_read = database.dialect == "sqlite"
    change_maker = change_maker or ChangesInAnotherProcess(settings, open_pipeline=bootstrap)
    return ReadSide(pipeline, sql_views(database), catch_up_on_read=catch_up_on_read,
                    batch_size=batch_size, change_maker=change_maker)  # fmt: skip
