"""What sealing content costs a persist: the same user messages persisted with the pipeline's
protector (AES-GCM, keys per user) and without (plaintext), interleaved in blocks in one run."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from time import perf_counter

from rich.console import Console
from rich.table import Table

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.domain.ports import ContentProtector, PlaintextContent

BLOCK = 50  # messages per turn: alternating blocks spread the machine's noise over both


@dataclass(frozen=True)
class EncryptionFigures:
    samples: int
    plaintext_p50_ms: float
    sealed_p50_ms: float
    seal_us: float  # mean time of sealing one prompt alone: the cost without the machine's noise

    @property
    def cost_percent(self) -> float:
        return round((self.sealed_p50_ms / self.plaintext_p50_ms - 1) * 100, 1)


@dataclass
class EncryptionBenchmark:
    pipeline: PersistencePipeline
    prompts: list[str]

    def run(self) -> EncryptionFigures:
        sealed = self.pipeline.protector
        lanes: list[tuple[str, ContentProtector, list[float]]] = [
            ("bench-plain", PlaintextContent(), []),
            ("bench-sealed", sealed, []),
        ]
        try:
            for user, protector, _ in lanes:
                self.pipeline.protector = protector
                assert self.pipeline.start_chat(f"{user}-chat", user, model="gpt-4o").success
            for start in range(0, len(self.prompts), BLOCK):
                for user, protector, seconds in lanes:
                    self.pipeline.protector = protector
                    seconds.extend(self.persist(user, start))
        finally:
            self.pipeline.protector = sealed
        plain, sealed_seconds = lanes[0][2], lanes[1][2]
        return EncryptionFigures(
            len(plain), _p50_ms(plain), _p50_ms(sealed_seconds), self.seal_us(sealed)
        )

    def seal_us(self, protector: ContentProtector) -> float:
        began = perf_counter()
        for index, prompt in enumerate(self.prompts):
            protector.seal("bench-sealed", prompt, f"bench-sealed-chat\ne{index}")
        return round((perf_counter() - began) / len(self.prompts) * 1e6, 1)

    def persist(self, user: str, start: int) -> list[float]:
        seconds = []
        for index in range(start, min(start + BLOCK, len(self.prompts))):
            began = perf_counter()
            result = self.pipeline.persist_user_message(
                f"{user}-chat", user, self.prompts[index], message_id=f"e{index}"
            )
            seconds.append(perf_counter() - began)
            assert result.success, result.error
        return seconds


def _p50_ms(seconds: list[float]) -> float:
    return round(statistics.median(seconds) * 1000, 3)


def print_encryption(backend: str, figures: EncryptionFigures) -> None:
    table = Table(title=f"cost of content encryption on persist p50 on {backend} (same run)")
    for column in ("messages each", "plaintext p50 ms", "sealed p50 ms", "cost", "seal alone µs"):
        table.add_column(column, justify="right")
    table.add_row(f"{figures.samples:,}", f"{figures.plaintext_p50_ms:.3f}",
                  f"{figures.sealed_p50_ms:.3f}", f"{figures.cost_percent:+.1f}%",
                  f"{figures.seal_us:.1f}")  # fmt: skip
    Console().print(table)
