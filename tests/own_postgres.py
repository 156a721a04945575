"""A PostgreSQL cluster of a test's own, to stop and start at will: made by scripts/postgres.sh
(pg_start), never the shared cluster of CHATLEDGER_TEST_POSTGRES_URL."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

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

    @classmethod
    def start_new_or_skip(cls) -> OwnCluster:
        """start_new, or skip the test where PostgreSQL cannot be set up (a failure under CI,
        whose test command installs it)."""
        try:
            return cls.start_new()
        except (subprocess.CalledProcessError, OSError) as error:
            if os.environ.get("CI"):
                pytest.fail(f"could not start a PostgreSQL cluster of the test's own: {error}")
            pytest.skip("needs PostgreSQL server binaries (scripts/postgres.sh pg_start)")

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


class KillablePostmaster:
    """The own cluster's server as a child of this process, to SIGKILL as the OOM killer would
    and start again at once. (A postmaster that pg_ctl started is init's child: after a kill,
    its zombie keeps its pid in postmaster.pid until init reaps it, and PostgreSQL refuses to
    start while that pid exists; init here reaps about once a second.)"""

    def __init__(self, cluster: OwnCluster) -> None:
        self.cluster = cluster
        self.child: subprocess.Popen[bytes] | None = None

    @property
    def pid_file(self) -> Path:
        return self.cluster.directory / "data" / "postmaster.pid"

    def kill(self) -> None:
        """SIGKILL of the postmaster; its backends notice and exit by themselves."""
        pid = int(self.pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        if self.child is not None and self.child.pid == pid:
            self.child.wait(timeout=30)
        deadline = time.monotonic() + 30
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.02)  # pg_ctl's postmaster: until init reaps it

    def start(self, timeout: float = 60.0) -> None:
        """Start the server (crash recovery first) and return once it accepts connections.
        Until the killed server's last backend has exited, a new one refuses to start (its
        shared memory is still in use): then it tries again."""
        deadline = time.monotonic() + timeout
        said_before = self.spawn()
        while not self.ready():
            assert time.monotonic() < deadline, "the server did not become ready"
            assert self.child is not None
            if self.child.poll() is not None:
                said = self.log.read_bytes()[said_before:].decode(errors="replace")
                assert "shared memory block" in said, said[-2000:]
                time.sleep(0.05)
                said_before = self.spawn()
            time.sleep(0.02)

    @property
    def log(self) -> Path:
        return self.cluster.directory / "server.log"

    def spawn(self) -> int:
        """A new server process; returns where its lines begin in the log."""
        port = str(urlsplit(self.cluster.url).port)
        owner = "postgres" if os.geteuid() == 0 else None  # the server refuses to run as root
        with self.log.open("ab") as log:
            self.child = subprocess.Popen(
                [str(self.cluster.bindir / "postgres"), "-D", str(self.cluster.directory / "data"),
                 "-h", "127.0.0.1", "-p", port, "-k", str(self.cluster.directory / "socket")],
                cwd=self.cluster.directory, stdout=log, stderr=log,
                user=owner, group=owner, extra_groups=[] if owner else None,
            )  # fmt: skip
            return log.tell()

    def ready(self) -> bool:
        """As pg_ctl -w decides: the pid file is this server's, and its status line says so."""
        try:
            lines = self.pid_file.read_text().splitlines()
        except FileNotFoundError:
            return False
        assert self.child is not None
        return len(lines) >= 8 and lines[0] == str(self.child.pid) and lines[7].strip() == "ready"

    def stop(self) -> None:
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signal.SIGINT)  # a fast shutdown
            self.child.wait(timeout=60)
