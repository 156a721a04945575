"""ChatLedger: an event-sourced, hash-chained audit log for LLM chat messages.

    from chatledger import Ledger

    with Ledger("sqlite:///chatledger.sqlite") as ledger:
        ledger.start_chat("chat-1", "user-1", model="gpt-4o")
        ledger.persist_user_message("chat-1", "user-1", "Hello")

Everything an application needs is importable from here; the modules underneath are the
implementation. The library never configures logging: it logs through structlog, as the host
application has set it up."""

from importlib.metadata import PackageNotFoundError, version

from chatledger.domain.batch import BatchResult
from chatledger.domain.chat_import import ImportResult
from chatledger.domain.erasure import ErasureResult
from chatledger.domain.errors import ChatLedgerError, ErrorCode
from chatledger.domain.messages import (
    CommandError,
    CommandResult,
    ContextItems,
    Intent,
    ProviderUsage,
    TokenSummary,
)
from chatledger.domain.streaming import OpenedStream, ReapResult
from chatledger.infrastructure.integrations.anthropic_client import record_anthropic
from chatledger.infrastructure.integrations.call_recording import recording_chat
from chatledger.infrastructure.integrations.openai_client import record_openai
from chatledger.infrastructure.integrations.otel_export import export_spans
from chatledger.infrastructure.integrations.sdk_proxy import MissingExtraError
from chatledger.infrastructure.ledger.async_ledger import AsyncLedger
from chatledger.infrastructure.ledger.ledger import Ledger
from chatledger.infrastructure.settings import Settings, SettingsError
from chatledger.projections.read_side import AuditTrailResult, ReplayResult, StatsResult
from chatledger.projections.verification import VerifyReport

try:
    __version__ = version("chatledger")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "AsyncLedger",
    "AuditTrailResult",
    "BatchResult",
    "ChatLedgerError",
    "CommandError",
    "CommandResult",
    "ContextItems",
    "ErasureResult",
    "ErrorCode",
    "ImportResult",
    "Intent",
    "Ledger",
    "MissingExtraError",
    "OpenedStream",
    "ProviderUsage",
    "ReapResult",
    "ReplayResult",
    "Settings",
    "SettingsError",
    "StatsResult",
    "TokenSummary",
    "VerifyReport",
    "__version__",
    "export_spans",
    "record_anthropic",
    "record_openai",
    "recording_chat",
]
