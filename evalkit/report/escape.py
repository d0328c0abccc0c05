"""Text from suites, data files and models, made safe for a terminal and for XML.

A leaf of the report layer with no heavy imports: the CLI uses it to print errors and gates
without loading pandas.
"""

from __future__ import annotations

import re

from rich.markup import escape

# C0/C1 controls (ESC starts terminal sequences) and bidirectional overrides, which reorder
# what a reader sees; newline and tab stay
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def shown_escaped(text: str, chars: re.Pattern[str]) -> str:
    """`text` with each character `chars` matches written as \\xNN or \\uNNNN.

    >>> shown_escaped("a\\x1bb", _CONTROL)
    'a\\\\x1bb'
    """

    def shown(m: re.Match[str]) -> str:
        code = ord(m.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return chars.sub(shown, text)


def plain(value: object) -> str:
    """Any value as literal terminal text: rich markup escaped, control characters as \\xNN.

    >>> plain("[red]x[/red]")
    '\\\\[red]x\\\\[/red]'
    """
    return escape(shown_escaped(str(value), _CONTROL))
