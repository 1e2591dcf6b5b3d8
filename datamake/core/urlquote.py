"""``urllib.parse.quote`` and ``unquote`` that load ``urllib.parse`` (slow to import) only for a text they change."""
from __future__ import annotations

# What quote() never changes: letters, digits and _.-~ (its always-safe set), plus the characters of ``safe``.
_ALWAYS_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"


def quote(text: str, safe: str = "/") -> str:
    """``urllib.parse.quote(text, safe)`` (``safe``: ASCII characters)."""
    if not text.lstrip(_ALWAYS_SAFE + safe):
        return text
    from urllib.parse import quote as full  # lazy: only a text with characters to escape

    return full(text, safe=safe)


def unquote(text: str) -> str:
    """``urllib.parse.unquote(text)``."""
    if "%" not in text:
        return text
    from urllib.parse import unquote as full  # lazy: only a text with escapes

    return full(text)
