"""Input normalisation for near-duplicate detection, shared by golden-set validation and fine-tuning."""

from __future__ import annotations

import re
import string
import unicodedata

_PUNCT = re.compile(f"[{re.escape(string.punctuation)}\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u00bf\u00a1]")
_SPACE = re.compile(r"\s+")


def normalize_input(text: str) -> str:
    """Lowercase, drop punctuation, collapse whitespace: two inputs equal after this are the same input.

    >>> normalize_input("  What's the  PRICE of Pro? ")
    'whats the price of pro'
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = _PUNCT.sub("", text)
    return _SPACE.sub(" ", text).strip()
