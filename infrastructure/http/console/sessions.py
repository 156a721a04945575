"""Console sessions: a signed cookie that names the key it was opened with, never the key.

The cookie holds the key id, an expiry and a random session id, with an HMAC over them under
the server's secret: nothing in it is secret, and nothing in it can be forged. Every request
looks the key up again, so revoking (or expiring) the key ends the session at once. Logging
out forgets the session id in this process, so a copied cookie stops working too. CSRF tokens
of the forms are HMACs of the session id; the login form, before any session, uses a random
token that the form and a cookie must both carry (SameSite=Strict keeps other sites' pages
from sending either)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

COOKIE = "chatledger_console"
LOGIN_CSRF_COOKIE = "chatledger_console_login"
LIFETIME_S = 8 * 3600
_MAX_FORGOTTEN = 100_000


@dataclass(frozen=True)
class Session:
    key_id: str
    session_id: str
    expires: int


class ConsoleSessions:
    def __init__(self, secret: bytes | None = None) -> None:
        self.secret = secret or secrets.token_bytes(32)
        self.forgotten: set[str] = set()

    def _mac(self, text: str) -> str:
        return hmac.new(self.secret, text.encode(), hashlib.sha256).hexdigest()

    def open(self, key_id: str) -> str:
        """A new session's cookie value."""
        body = f"{key_id}.{int(time.time()) + LIFETIME_S}.{secrets.token_hex(16)}"
        return f"{body}.{self._mac(body)}"

    def session(self, cookie: str | None) -> Session | None:
        """The session this cookie names, if signed here, unexpired and not logged out."""
        parts = (cookie or "").split(".")
        if len(parts) != 4:
            return None
        key_id, expires, session_id, mac = parts
        if not hmac.compare_digest(mac, self._mac(".".join(parts[:3]))):
            return None
        if not expires.isdigit() or int(expires) < time.time():
            return None
        if session_id in self.forgotten:
            return None
        return Session(key_id, session_id, int(expires))

    def close(self, session: Session) -> None:
        if len(self.forgotten) >= _MAX_FORGOTTEN:
            self.forgotten.clear()  # bounded memory; expiry still ends those sessions
        self.forgotten.add(session.session_id)

    def csrf_token(self, session: Session) -> str:
        return self._mac(f"csrf.{session.session_id}")[:32]

    def csrf_valid(self, session: Session, token: str) -> bool:
        return hmac.compare_digest(self.csrf_token(session), token)
