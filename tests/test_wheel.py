"""The package as a user installs it: the wheel, in a fresh virtual environment, run from a folder
that holds an unrelated `domain` package of the application's own. The wheel is built and
installed offline; its dependencies are lent from this environment's site-packages (a path in a
.pth file, whose own .pth files, this checkout's editable install among them, are not run)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import textwrap
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVER_AND_DRIVER = {
    "fastapi",
    "uvicorn",
    "httpx",
    "psycopg",
    "psycopg-pool",
    "jinja2",
    "python-multipart",
}

RECORD = """
import asyncio, sys
import domain
from chatledger import AsyncLedger, Ledger

assert domain.OWNER == "the application", "the application's own domain package is shadowed"
assert Ledger.__module__.startswith("chatledger."), Ledger.__module__
with Ledger("sqlite:///sync.sqlite") as ledger:
    assert ledger.start_chat("chat-1", "alice", model="gpt-4o").success
    assert ledger.persist_user_message("chat-1", "alice", "hello", message_id="m-1").success
    assert ledger.persist_assistant_message("chat-1", "alice", "hi", message_id="m-2").success
    assert ledger.stats("alice").stats.messages == 2
    assert ledger.verify().intact

async def main():
    async with await AsyncLedger.open("sqlite:///async.sqlite") as ledger:
        assert (await ledger.start_chat("chat-1", "alice")).success
        results = await asyncio.gather(*(ledger.persist_user_message(
            "chat-1", "alice", f"q{n}", message_id=f"m-{n}") for n in range(5)))
        assert all(r.success for r in results)
        assert (await ledger.stats("alice")).stats.messages == 5
        assert (await ledger.verify()).intact

asyncio.run(main())
import chatledger.infrastructure.cli.main  # the command line, too, needs no server or driver
tops = {m.split(".")[0] for m in sys.modules}
# `domain` is the application's own here, checked above.
print("generic:", sorted(tops & {"projections", "infrastructure"}))
print("server or driver:", sorted(tops & {"fastapi", "uvicorn", "psycopg"}))
print("recorded")
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a copy of the sources: setuptools builds in the source tree, and two test
    processes must not share one build folder."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("dist")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("chatledger", "domain", "projections", "infrastructure"):
        shutil.copytree(ROOT / name, source / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "--wheel-dir", str(out), str(source)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    (built,) = out.glob("chatledger-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_environment(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("fresh") / "venv"
    venv.create(home, with_pip=False)
    python = home / "bin" / "python"
    asked = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = subprocess.run([str(python), "-c", asked],
                          check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
    (Path(site) / "lent_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
         str(wheel)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return home


@pytest.fixture
def application_folder(tmp_path: Path) -> Path:
    """A folder with the application's own `domain` package, where the application runs."""
    (tmp_path / "domain").mkdir()
    (tmp_path / "domain" / "__init__.py").write_text('OWNER = "the application"\n')
    return tmp_path


def test_the_wheel_holds_one_package_and_no_server_or_driver_in_its_core(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = Parser().parsestr(
            archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
        )
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"chatledger"}
    assert "chatledger/py.typed" in names
    assert "chatledger/infrastructure/bench/run.py" in names
    assert "chatledger/infrastructure/security/chatledger_verify.py" in names  # for auditors
    console = "chatledger/infrastructure/http/console"  # its pages and Chart.js ship too
    assert {f"{console}/templates/chat.html", f"{console}/static/vendor/chart.umd.min.js"} <= set(
        names
    )
    requires = metadata.get_all("Requires-Dist") or []
    core = {r.split(";")[0].split("[")[0].split(">")[0].split("=")[0].strip().lower()
            for r in requires if "extra ==" not in r}  # fmt: skip
    assert core & SERVER_AND_DRIVER == set()
    assert {"eventsourcing", "pydantic", "tiktoken", "structlog", "typer"} <= core
    assert {"server", "postgres"} <= set(metadata.get_all("Provides-Extra") or [])


@pytest.mark.slow
def test_a_fresh_environment_records_reads_and_verifies_beside_a_domain_package(
    fresh_environment: Path, application_folder: Path
) -> None:
    python = fresh_environment / "bin" / "python"
    where = subprocess.run(
        [str(python), "-c", "import chatledger; print(chatledger.__file__)"],
        cwd=application_folder, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert where.startswith(str(fresh_environment)), where
    script = application_folder / "app.py"
    script.write_text(textwrap.dedent(RECORD))
    ran = subprocess.run([str(python), str(script)], cwd=application_folder,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "generic: []" in ran.stdout
    assert "server or driver: []" in ran.stdout
    assert ran.stdout.rstrip().endswith("recorded")


@pytest.mark.slow
def test_the_installed_command_runs_the_demo_and_tells_its_version(
    fresh_environment: Path, application_folder: Path
) -> None:
    command = fresh_environment / "bin" / "chatledger"
    version = subprocess.run([str(command), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("chatledger ")
    demo = subprocess.run(
        [str(command), "demo", "--conversations", "2", "--json"],
        cwd=application_folder, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    assert (application_folder / "chatledger.sqlite").exists()
