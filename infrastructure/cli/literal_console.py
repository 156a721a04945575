"""The command line's Rich consoles: every string they print shows as it is.

Recorded text (content, titles, ids, warnings that quote them) reaches the terminal as strings:
in a table cell, a title, a line. A console that read Rich markup in them would drop `[bold]`
and print `[erased]` as nothing, one that read emoji codes would turn `:warning:` into a
picture, and a terminal shows neither controls nor bidi overrides as what they are. So markup
and emoji codes are off, and every string goes through `visible` (hidden characters as
`<U+202E>`, infrastructure/presentation/recorded_text.py). The command line's own colours are
`Text` objects with a style: `alert("cannot open the database:")`."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from chatledger.infrastructure.presentation.recorded_text import visible


class LiteralConsole(Console):
    def __init__(self, **options: Any) -> None:
        super().__init__(markup=False, emoji=False, **options)

    def render_str(self, text: str, **options: Any) -> Text:
        # Every string a print, table or title shows comes through here.
        return super().render_str(visible(text), **options)


def alert(label: str) -> Text:
    """A label of the command's own, in red: what went wrong."""
    return Text(label, style="red")


def caution(label: str) -> Text:
    """A label of the command's own, in yellow: a warning."""
    return Text(label, style="yellow")
