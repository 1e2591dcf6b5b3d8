"""Cutting a selection's text into tokens, each with its position.

Tokens are words (keys, globs, ``group:NAME``…, the keywords ``and``, ``or``,
``not``), parentheses and ``+`` signs. A ``+`` may carry a depth: ``2+``
before a key (digits then ``+``) or ``+2`` after it. Double quotes make
anything part of a word: ``tag:team="data eng"``.
"""
from __future__ import annotations

from typing import List, Optional

from datamake.core.records import record
from datamake.selection.errors import located

WORD, LPAREN, RPAREN, PLUS, END = "word", "(", ")", "+", "end"
_BREAK = set(" \t\r\n()+")


@record(frozen=True)
class Token:
    """One token: ``kind``, its raw ``text`` as typed, and for a ``+`` its ``depth`` (None: every level)
    and whether the depth was written before it (``2+``: ``depth_first``)."""

    kind: str
    text: str
    start: int
    end: int
    depth: Optional[int] = None
    depth_first: bool = False
    quoted: bool = False


def tokenize(text: str) -> List[Token]:
    """The tokens of ``text``, ending with an ``end`` token; a bad quote raises a located SelectionError."""
    tokens: List[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "()":
            tokens.append(Token(c, c, i, i + 1))
            i += 1
        elif c == "+":
            tokens.append(_plus_after(text, i))
            i = tokens[-1].end
        elif c.isdigit() and _digits_end(text, i) < n and text[_digits_end(text, i)] == "+":
            end = _digits_end(text, i)
            tokens.append(Token(PLUS, text[i:end + 1], i, end + 1, depth=int(text[i:end]), depth_first=True))
            i = end + 1
        else:
            tokens.append(_word(text, i))
            i = tokens[-1].end
    tokens.append(Token(END, "", n, n))
    return tokens


def _digits_end(text: str, i: int) -> int:
    while i < len(text) and text[i].isdigit():
        i += 1
    return i


def _plus_after(text: str, i: int) -> Token:
    """``+`` at ``i``, with the depth written after it (``+2``) unless those digits begin a ``2+``."""
    end = _digits_end(text, i + 1)
    if end > i + 1 and not (end < len(text) and text[end] == "+"):
        return Token(PLUS, text[i:end], i, end, depth=int(text[i + 1:end]))
    return Token(PLUS, "+", i, i + 1)


def _word(text: str, start: int) -> Token:
    i, quoted = start, False
    while i < len(text) and text[i] not in _BREAK:
        if text[i] == '"':
            close = text.find('"', i + 1)
            if close < 0:
                raise located(text, i, len(text), "this quote is never closed", hint='close it: tag:team="data eng"')
            i, quoted = close + 1, True
        else:
            i += 1
    return Token(WORD, text[start:i], start, i, quoted=quoted)


def unquote(raw: str) -> str:
    """A word's text without its double quotes."""
    return raw.replace('"', "")


def split_outside_quotes(raw: str, sep: str) -> Optional[int]:
    """The index of the first ``sep`` in ``raw`` that is not inside double quotes, or None."""
    inside = False
    for i, c in enumerate(raw):
        if c == '"':
            inside = not inside
        elif c == sep and not inside:
            return i
    return None
