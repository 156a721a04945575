"""Wiring: settings -> logging, tokenizer, observer -> the persistence pipeline."""

from __future__ import annotations

from domain.pipeline import PersistencePipeline
from domain.ports import ContentProtector, TokenCounter
from infrastructure.content_encryption import AesGcmContent
from infrastructure.content_keys import SqlKeyStore
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
    protector: ContentProtector | None = None,
) -> PersistencePipeline:
    """Build the pipeline on the configured database. Tests pass settings and share a counter
    (loading an encoding takes a second); nothing here reads os.environ but Settings().
    Content is sealed with AES-GCM keys per user kept in the same database, unless another
    protector (a KMS-backed one) is given."""
    settings = settings or Settings()
    if configure_logs:
        configure_logging(settings.log_format, settings.log_level)
    env = eventsourcing_env(settings)
    if "SQLITE_DBNAME" in env:
        ensure_wal_mode(env["SQLITE_DBNAME"], settings.lock_timeout_s)
    pipeline = PersistencePipeline(
        env,
        token_counter=token_counter or TiktokenCounter(),
        observer=StructlogCommandObserver(),
        protector=protector or AesGcmContent(SqlKeyStore(read_model_database(settings))),
    )
    return pipeline
