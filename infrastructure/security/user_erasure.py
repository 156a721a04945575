"""Erasing a user everywhere: the read side's erasure (the content key destroyed, the read
models purged), then the user's own API keys revoked. The CLI and the HTTP service both erase
through here, so neither forgets the keys."""

from __future__ import annotations

from chatledger.domain.erasure import ErasureResult
from chatledger.infrastructure.security.api_keys import ApiKeyStore
from chatledger.projections.read_side import ReadSide


def erase_user_and_keys(
    read_side: ReadSide, keys: ApiKeyStore, user_id: str, *, reason: str, requested_by: str
) -> tuple[ErasureResult, int]:
    """The erasure's result, and how many of the user's keys were revoked."""
    result = read_side.erase_user(user_id, reason=reason, requested_by=requested_by)
    return result, keys.revoke_user(user_id) if result.success else 0
