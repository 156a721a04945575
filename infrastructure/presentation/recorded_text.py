"""How recorded text is shown to people, on the command line and in the console: character for
character as it was recorded, except the characters that show nothing or change how the text
around them is laid out. Those are shown as a marker naming their code point, `<U+202E>`, so a
reader sees that they are there and they cannot reverse, hide or overwrite what surrounds them.

Hidden characters are those of the Unicode categories Cc (controls: NUL, ESC, carriage return,
...), Cf (format characters: the bidirectional controls U+200E/F, U+202A-E, U+2066-9, U+061C,
the zero-width U+200B-D, U+2060 and U+FEFF, the soft hyphen, tags, ...), Zl and Zp (line and
paragraph separators); newline and tab lay text out as they say and are kept."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
# Runs of characters that may be hidden: everything but printable ASCII, newline and tab (the
# runs are then checked at C speed with str.isprintable, which is false for every hidden one).
_CANDIDATES = re.compile(r"[^\t\n\x20-\x7e]+")


def is_hidden(char: str) -> bool:
    return char not in "\t\n" and unicodedata.category(char) in HIDDEN_CATEGORIES


def marker(char: str) -> str:
    """What stands for a hidden character: `<U+202E>`."""
    return f"<U+{ord(char):04X}>"


def runs(text: str) -> Iterator[tuple[str, bool]]:
    """The text in order, in pieces: (characters shown as they are, False) and (one hidden
    character, True)."""
    start = 0
    for candidates in _CANDIDATES.finditer(text):
        if candidates.group().isprintable():
            continue
        for at in range(candidates.start(), candidates.end()):
            if is_hidden(text[at]):
                if at > start:
                    yield text[start:at], False
                yield text[at], True
                start = at + 1
    if start < len(text):
        yield text[start:], False


def visible(text: str) -> str:
    """The text with each hidden character replaced by its marker."""
    return "".join(marker(piece) if hidden else piece for piece, hidden in runs(text))
