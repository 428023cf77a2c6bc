"""Whole numbers as people and clients write them: ASCII digits only.

``str.isdigit`` also takes digits ``int`` refuses (``"¹"``, ``"²"``: a ValueError where a
check was meant, a 500 in a handler) and others ``int`` reads (``"٣"`` is 3): every number
Picasso reads from text (query strings, headers, settings) goes through :func:`whole_number`
instead.
"""

from __future__ import annotations


def whole_number(text: str) -> int | None:
    """``text`` as a whole number of ASCII digits (``"007"`` is 7), or None for anything
    else: empty, a sign, spaces, a fraction, other scripts' digits."""
    return int(text) if text.isascii() and text.isdigit() else None
