"""chatledger bench runs every phase on both backends and prints figures for machines."""

from __future__ import annotations

import json
import os

from typer.testing import CliRunner

from chatledger.infrastructure.cli.main import app
from tests.conftest import postgres_base_url


def test_every_phase_prints_its_figures(backend: str) -> None:
    database = ["--database-url", postgres_base_url()] if backend == "postgres" else []
    args = ["bench", "--backend", backend, *database, "--messages", "32", "--history", "100",
            "--ingest-messages", "120", "--replay-events", "150", "--console-messages", "200",
            "--json"]  # fmt: skip

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [f["operation"] for f in report["persist"]] == [
        "persist user message", "persist assistant message", "open + complete stream"]  # fmt: skip
    assert all(f["p50_ms"] > 0 and f["ratio"] > 0 for f in report["persist"])
    assert all(f["store_ms"] > 0 and f["work_ms"] > 0 for f in report["persist"])
    assert report["encryption"]["samples"] == 32
    assert report["encryption"]["sealed_p50_ms"] > 0 and "cost_percent" in report["encryption"]
    assert [c["clients"] for c in report["clients"]] == [1, 4, 16]
    assert all(c["per_second"] > 0 and c["raw_per_second"] > 0 for c in report["clients"])
    assert [i["workers"] for i in report["ingest"]] == sorted({1, os.cpu_count() or 1})
    assert all(i["messages"] >= 120 and i["per_second"] > 0 for i in report["ingest"])
    assert [r["events"] for r in report["replay"]] == [150, 75]
    assert {q["history"] for q in report["read"]["queries"]} == {100}
    rates = report["read"]["rebuilds"]["100"]  # raw read, three rebuilds, verify, export
    assert [r["runs"] for r in rates] == [3, 3, 3, 3, 1, 1]
    assert all(0 < r["slowest_per_second"] <= r["per_second"] for r in rates)
    assert [h["clients"] for h in report["http"]] == [1, 4, 16]
    assert all(h["per_second"] > 0 and h["in_process_per_second"] > 0 for h in report["http"])
    sdk = [(f["provider"], f["mode"]) for f in report["sdk"]]
    assert sdk == [("openai", "whole"), ("openai", "streamed"), ("anthropic", "whole"),
                   ("anthropic", "streamed")]  # fmt: skip
    assert all(f["calls"] == 32 and f["bare_p50_ms"] > 0 and f["recorded_p50_ms"] > 0
               and "added_p50_ms" in f for f in report["sdk"])  # fmt: skip
    assert all((f["per_chunk_us"] > 0) == (f["mode"] == "streamed") for f in report["sdk"])
    assert all(p["messages"] == 200 and 0 < p["p50_ms"] <= p["p95_ms"] for p in report["console"])
    assert len(report["console"]) == 9
    assert set(report["peak_rss_mb"]) == {"persist", "encryption", "clients", "ingest", "replay",
                                          "read", "http", "sdk", "console"}  # fmt: skip


def test_the_command_offers_every_phase_the_benchmarks_have() -> None:
    """cli/bench.py lists the phases without importing the benchmarks: the lists must agree."""
    from chatledger.infrastructure.bench.run import PHASES
    from chatledger.infrastructure.cli.bench import PhaseChoice

    assert [choice.value for choice in PhaseChoice] == list(PHASES)
