"""Wiring: settings -> logging, tokenizer, observer -> the persistence pipeline."""

from __future__ import annotations

from domain.pipeline import PersistencePipeline
from domain.ports import TokenCounter
from infrastructure.append_only import protect_event_log
from infrastructure.read_models import read_model_database
from infrastructure.settings import Settings, eventsourcing_env
from infrastructure.sqlite_store import ensure_wal_mode
from infrastructure.structured_logging import StructlogCommandObserver, configure_logging
from infrastructure.tokens import TiktokenCounter


def bootstrap(
    settings: Settings | None = None,
    *,
    token_counter: TokenCounter | None = None,
    configure_logs: bool = True,
) -> PersistencePipeline:
    """Build the pipeline on the configured database. Tests pass settings and share a counter
    (loading an encoding takes a second); nothing here reads os.environ but Settings()."""
    settings = settings or Settings()
    if configure_logs:
        configure_logging(settings.log_format, settings.log_level)
    env = eventsourcing_env(settings)
    if env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        ensure_wal_mode(env["SQLITE_DBNAME"], settings.lock_timeout_s)
    pipeline = PersistencePipeline(
        env,
        token_counter=token_counter or TiktokenCounter(),
        observer=StructlogCommandObserver(),
    )
    database = read_model_database(settings)
    try:
        protect_event_log(database)
    finally:
        database.close()
    return pipeline
