"""One settings object, read once from CHATLEDGER_* variables, turned into eventsourcing's env."""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path
from typing import Literal, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///chatledger.sqlite"
STORES = "chatledger.infrastructure.store"  # where the event store adapters live
# Two connections for the event store (schema creation holds a lock on one while it creates
# on another), one for the read models.
MIN_POOL_SIZE = 3


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHATLEDGER_", extra="ignore")

    # SecretStr: the URL may hold a password, and settings get printed and logged.
    database_url: SecretStr = SecretStr(DEFAULT_DATABASE_URL)
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Chats kept in memory: a long chat holds its message ids, so this bounds memory too.
    aggregate_cache_size: int = Field(default=1_000, ge=1)
    # The most connections one process opens to PostgreSQL, shared out by pool_shares().
    postgres_pool_size: int = Field(default=10, ge=MIN_POOL_SIZE)
    # How long opening a connection, or waiting for a free one of a pool, may take.
    postgres_connect_timeout_s: int = Field(default=5, ge=1)
    # False for an application role with INSERT and SELECT only: the owner created the schema.
    create_schema: bool = True
    # How long a write waits for the table lock before failing with PERSISTENCE_ERROR.
    lock_timeout_s: int = Field(default=5, ge=1)
    # HTTP API: larger request bodies get 413 before any is parsed (content is 512 KiB at most).
    http_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Readiness: answered 503 while any projection is more events than this behind the log.
    http_ready_max_lag: int = Field(default=1000, ge=0)
    # The HTTP service keeps the read models current in its own process, polling this often.
    http_follow: bool = True
    http_follow_poll_s: float = Field(default=0.2, ge=0.01)
    # Requests per key, in the `limits` package's notation ("100/second"); None: no limit.
    http_rate_limit: str | None = None
    # The console: where `chatledger checkpoint` writes signed checkpoints (the latest is shown
    # and proved against), and the signer's public key (default: the .pub file in that folder).
    checkpoint_dir: Path | None = None
    checkpoint_public_key: Path | None = None
    # Signs console session cookies; None: a random secret per process (sessions end at restart).
    console_session_secret: SecretStr | None = None
    # OTLP trace ingest: the span (or resource) attribute that names the chat's user.
    otlp_user_attribute: str = Field(default="user.id", min_length=1, max_length=255)
    # OpenTelemetry out: the messages' words in the spans only when asked for (either name).
    otel_capture_content: bool = Field(
        default=False,
        validation_alias=AliasChoices(
            "CHATLEDGER_OTEL_CAPTURE_CONTENT",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
            "otel_capture_content",
        ),
    )


class SettingsError(ValueError):
    """A setting that cannot work; the message never repeats a password."""


class SchemaMissingError(SettingsError):
    """The database URL names a schema that does not exist: ChatLedger creates its tables, never
    a schema (that is the database owner's decision, with its privileges)."""


class DatabaseUnreachableError(OSError):
    """The database refused the connection or could not be reached: the driver's reason (a TLS
    certificate that does not verify, a wrong password, no server), never the password."""


def eventsourcing_env(settings: Settings) -> dict[str, str]:
    url = settings.database_url.get_secret_value()
    parts = urlsplit(url)
    common = {
        "AGGREGATE_CACHE_MAXSIZE": str(settings.aggregate_cache_size),
        "CREATE_TABLE": "y" if settings.create_schema else "n",
        # The same stored JSON, decoded faster: rebuilds, verify and exports decode every event.
        "TRANSCODER_TOPIC": f"{STORES}.json_transcoder:OrjsonTranscoder",
    }
    if parts.scheme == "sqlite":
        return (
            common | sqlite_env(parts.path) | {"SQLITE_LOCK_TIMEOUT": str(settings.lock_timeout_s)}
        )
    if parts.scheme in ("postgresql", "postgres"):
        return common | postgres_env(url, settings)
    raise SettingsError(
        f"CHATLEDGER_DATABASE_URL must start with sqlite:/// or postgresql://, not {parts.scheme!r}"
    )


def sqlite_env(url_path: str) -> dict[str, str]:
    # sqlite:///relative.db is relative to the working directory; sqlite:////abs.db is absolute.
    relative = url_path[1:] if url_path.startswith("/") else url_path
    if not relative:
        raise SettingsError("the sqlite URL names no file: use sqlite:///path/to/file.sqlite")
    path = Path(relative)
    if not path.parent.exists():
        raise SettingsError(f"the folder of the SQLite database does not exist: {path.parent}")
    return {
        "PERSISTENCE_MODULE": f"{STORES}.sqlite_store:AppendOnlySQLiteFactory",
        "SQLITE_DBNAME": str(path),
    }


def postgres_env(url: str, settings: Settings) -> dict[str, str]:
    parts = urlsplit(url)
    database = parts.path.lstrip("/")
    if not (parts.hostname and database and parts.username):
        raise SettingsError("the postgresql URL needs user, host and database: "
                            "postgresql://user:password@host:port/database")  # fmt: skip
    if find_spec("psycopg") is None or find_spec("psycopg_pool") is None:
        raise SettingsError("PostgreSQL needs its driver: pip install 'chatledger[postgres]'")
    query = parse_qs(parts.query, keep_blank_values=True)
    schema = query.get("schema", [""])[-1]
    return {
        "PERSISTENCE_MODULE": f"{STORES}.postgres_store:FailFastPostgresFactory",
        "POSTGRES_DBNAME": unquote(database),
        "POSTGRES_HOST": parts.hostname,
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_SCHEMA": schema,
        # One connection kept, more opened as they are needed, up to the event store's share.
        "POSTGRES_POOL_SIZE": "1",
        "POSTGRES_MAX_OVERFLOW": str(pool_shares(settings.postgres_pool_size).events - 1),
        "POSTGRES_CONNECT_TIMEOUT": str(settings.postgres_connect_timeout_s),
        # A server that went away must fail a persist fast, never hang it.
        "POSTGRES_PRE_PING": "y",
        "POSTGRES_LOCK_TIMEOUT": str(settings.lock_timeout_s),
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "10",
        CONNECT_PARAMETERS: json.dumps(libpq_parameters(query)),
    }


class PoolShares(NamedTuple):
    events: int
    read_models: int


def pool_shares(pool_size: int) -> PoolShares:
    """How a process's `pool_size` connections are shared out: half (rounded down) to the read
    models' pool (their queries, the followers' writes, content keys, API keys), the rest to
    the event store's (commands, loading chats, reading the log)."""
    read_models = pool_size // 2
    return PoolShares(events=pool_size - read_models, read_models=read_models)


# The URL's query parameters besides ChatLedger's own reach the driver as they are: sslmode,
# sslrootcert, application_name, connect_timeout, target_session_attrs, ...
OWN_PARAMETERS = ("schema",)
CONNECT_PARAMETERS = "CHATLEDGER_POSTGRES_CONNECT_PARAMETERS"  # env key: JSON of libpq's


def libpq_parameters(query: dict[str, list[str]]) -> dict[str, str]:
    """libpq's connection parameters of the URL; a name libpq does not know is refused (the
    message names it, never a value)."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import make_conninfo

    given = {name: values[-1] for name, values in query.items() if name not in OWN_PARAMETERS}
    for name, value in given.items():
        try:
            make_conninfo("", **{name: value})
        except ProgrammingError:
            raise SettingsError(
                f"the database URL has a parameter PostgreSQL does not know: {name!r}"
            ) from None
    return given


def describe_database(settings: Settings) -> str:
    """The database URL without its password, for people and logs."""
    url = settings.database_url.get_secret_value()
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()
