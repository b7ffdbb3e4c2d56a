"""Text helpers every protocol of the fake shares: words are its tokens, and answers stream in pieces."""

from __future__ import annotations


def split_text(text: str, pieces: int) -> list[str]:
    """``text`` in ``pieces`` parts of nearly equal length (fewer if it is shorter); none if empty."""
    count = max(1, min(pieces, len(text)))
    bounds = [len(text) * i // count for i in range(count + 1)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def word_count(text: str) -> int:
    """Words in ``text``, the fake's token count."""
    return len(text.split())
