"""The command line's help, as a terminal of 80 or 120 columns shows it: sentences wrapped to
the width (not at the line breaks of the source's docstrings), every word of them shown (no
`[word]` taken for markup), and nothing that only makes sense inside the repository."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys

import pytest

BOX = re.compile(r"^│(?P<inside>.*)│$")
COMMAND_ROW = re.compile(r"^ (?P<name>\S*) +(?P<text>\S.*?) *$")


def help_of(*command: str, columns: int = 80) -> str:
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "dumb"}
    shown = subprocess.run([sys.executable, "-m", "chatledger", *command, "--help"], env=env,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def blocks(help_text: str) -> list[list[str]]:
    """The runs of wrapped text: the description's paragraphs, and each command's help in the
    Commands panel (a row with a name starts one, rows without go on with it)."""
    found: list[list[str]] = []
    block: list[str] = []
    for line in help_text.splitlines():
        boxed = BOX.match(line)
        row = COMMAND_ROW.match(boxed["inside"]) if boxed else None
        text = row["text"] if row else ("" if boxed or line[:1] in "╭╰" else line.strip())
        if not text or (row and row["name"]):
            found.append(block)
            block = []
        if text:
            block.append(text)
    return [b for b in [*found, block] if len(b) > 1]


def early_breaks(help_text: str) -> list[str]:
    """Lines that end although the next line's first word would have fitted on them: a line
    break of the source, not of the wrapping. The width is the longest line of the same text,
    which is at most the room the wrapping had, so no line is named that the wrapping filled."""
    early = []
    for block in blocks(help_text):
        width = max(map(len, block))
        for line, following in itertools.pairwise(block):
            if len(line) + 1 + len(following.split()[0]) <= width:
                early.append(f"{line!r} before {following!r}")
    return early


@pytest.mark.parametrize("columns", [80, 120])
def test_the_help_wraps_sentences_to_the_terminal(columns: int) -> None:
    shown = help_of(columns=columns)
    assert "Commands" in shown and "erase-user" in shown
    assert len(blocks(shown)) > 10  # the description and the commands' help were found
    assert early_breaks(shown) == []


def test_the_help_says_what_an_erased_content_reads() -> None:
    assert '"[erased]"' in " ".join(help_of("erase-user", columns=200).split())


def test_the_ingest_help_names_formats_not_repository_folders() -> None:
    shown = " ".join(help_of("ingest", columns=200).split())
    assert '{"conversation_id": ..., "messages": [...]}' in shown
    assert "../" not in shown and "shared/data" not in shown
