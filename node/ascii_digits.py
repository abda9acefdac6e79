"""Whole numbers written in a URL, a query string or a header, read as Qdrant reads them.

`str.isdigit()` is no test for these: it holds for superscripts ("¹") and other scripts'
digits, which `int()` then refuses with a ValueError (an answer of 500) or reads as a number
Qdrant would not take ("١" is 1). Only ASCII digits make a number here.
"""

from __future__ import annotations


def parse_ascii_uint(text: str | None) -> int | None:
    """The number `text` spells in ASCII digits alone, or None when it is anything else."""
    if not text or not text.isascii() or not text.isdigit():
        return None
    return int(text)
