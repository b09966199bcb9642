"""Print untrusted text (model replies, dataset fields, error texts, ids) so that it cannot act.

Terminals execute escape sequences (clear screen, hidden text, OSC 8 links) and Rich interprets
`[markup]`; text from a model or a data set must do neither. These helpers only change what is
*shown*: stored text stays exact. Every printed text is also redacted (API keys never shown).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ctxsafe.redact import redact

if TYPE_CHECKING:  # rich loads when something is printed, not before a run's first request (issue 12)
    from rich.text import Text

# C0 controls except tab and newline, DEL and C1 controls (ESC starts ANSI/OSC sequences; CR overwrites
# a line), bidirectional overrides and isolates (they reorder what is shown), invisible BOM/word joiner,
# and lone surrogates (not text at all).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069"
                     "\ufeff\ud800-\udfff]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def inert(text: object) -> str:
    """Plain text with every control, bidi and surrogate character shown as a visible escape, keys masked."""
    return _UNSAFE.sub(_visible, redact(str(text)))


def inert_markup(text: object) -> str:
    """`inert`, with Rich markup escaped: for interpolating into a markup string, a table cell or a title."""
    from rich.markup import escape

    return escape(inert(text))


def inert_text(text: object, style: str = "") -> Text:
    """A Rich `Text` (never parsed as markup) holding `inert(text)`."""
    from rich.text import Text

    return Text(inert(text), style=style)
