"""Figures of the reliability tests (trials, kills, restarts, inputs, messages checked), written
as JSON lines to the file named by CHATLEDGER_RELIABILITY_FIGURES when it is set; docs/
reliability.md quotes them. Without the variable the tests only assert."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any


def record_figures(test: str, **figures: Any) -> None:
    path = os.environ.get("CHATLEDGER_RELIABILITY_FIGURES")
    if not path:
        return
    line = {"test": test, "at": datetime.now(UTC).isoformat(timespec="seconds"), **figures}
    with open(path, "a", encoding="utf-8") as out:  # one short line: appends do not interleave
        out.write(json.dumps(line) + "\n")
