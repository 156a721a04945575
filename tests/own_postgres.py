"""A PostgreSQL cluster of a test's own, to stop and start at will: made by scripts/postgres.sh
(pg_start), never the shared cluster of CHATLEDGER_TEST_POSTGRES_URL."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
START = (
    'source scripts/postgres.sh && pg_start >&2 && printf "%s\\n%s\\n%s\\n" '
    '"$CHATLEDGER_TEST_POSTGRES_URL" "$_CHATLEDGER_PG_DIR" "$_CHATLEDGER_PG_BINDIR"'
)


@dataclass(frozen=True)
class OwnCluster:
    url: str
    directory: Path
    bindir: Path

    @classmethod
    def start_new(cls) -> OwnCluster:
        """initdb and start; raises CalledProcessError when PostgreSQL cannot be set up here."""
        done = subprocess.run(
            ["bash", "-c", START], cwd=ROOT, capture_output=True, text=True, check=True
        )
        url, directory, bindir = done.stdout.split()
        return cls(url, Path(directory), Path(bindir))

    def pg_ctl(self, *arguments: str) -> None:
        owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        command = [*owner, str(self.bindir / "pg_ctl"), "-D", str(self.directory / "data")]
        subprocess.run([*command, *arguments], cwd=self.directory, check=True, capture_output=True)

    def stop(self, mode: str = "immediate") -> None:
        """immediate: the server dies as in a crash (no checkpoint), sessions cut off."""
        self.pg_ctl("-m", mode, "-w", "-t", "60", "stop")

    def start(self) -> None:
        port = urlsplit(self.url).port
        options = f"-h 127.0.0.1 -p {port} -k {self.directory / 'socket'}"
        log = str(self.directory / "server.log")
        self.pg_ctl("-w", "-t", "60", "-l", log, "-o", options, "start")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop("fast")
        shutil.rmtree(self.directory, ignore_errors=True)
