"""Per-key rate limits (the `limits` package, moving window, in the process's memory): a key
over its rate gets 429 with Retry-After. `CHATLEDGER_HTTP_RATE_LIMIT` in the package's
notation, e.g. `100/second` or `5000/minute`; unset, no limit. Each process of a deployment
counts on its own."""

from __future__ import annotations

import math
import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class RateLimitedError(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"rate limited for {retry_after_s} s")
        self.retry_after_s = retry_after_s


class KeyRateLimits:
    def __init__(self, rate: str | None) -> None:
        self.rate = parse(rate) if rate else None  # ValueError for a rate it cannot read
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, key_id: str) -> None:
        """Count a request of this key; RateLimitedError when it is over its rate."""
        if self.rate is None or self.limiter.hit(self.rate, key_id):
            return
        reset = self.limiter.get_window_stats(self.rate, key_id).reset_time
        raise RateLimitedError(max(1, math.ceil(reset - time.time())))
