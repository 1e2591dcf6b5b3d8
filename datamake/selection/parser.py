"""The selection grammar, parsed by recursive descent (see the package docstring for the language)::

    union  := inter (["or"] inter)*          terms side by side are a union too
    inter  := unary ("and" unary)*
    unary  := "not" unary | term
    term   := ["+" | "N+"] primary ["+" | "+N"]    the + touches the primary
    primary:= KEY | GLOB | FIELD:VALUE | "(" union ")"
"""
from __future__ import annotations

import re
from typing import List, Optional, Sequence, Union

from datamake.core.errors import did_you_mean
from datamake.selection.errors import located
from datamake.selection.lexer import END, LPAREN, PLUS, RPAREN, WORD, Token, split_outside_quotes, tokenize, unquote
from datamake.selection.nodes import And, Attr, Everything, Expr, Key, Not, Or, Traverse

FIELDS = ("group", "tag", "kind", "key")
KEYWORDS = {"and", "or", "not"}
_PATTERN = re.compile(r"[A-Za-z0-9_.\-/*]+")  # key characters, and * for globs
_KEY_HINT = "asset keys are letters, digits, '_', '.' and '-', joined by '/'; quote other text: tag:k=\"v w\""


_OPERATORS = {"|": "or", "||": "or", "&": "and", "&&": "and", "!": "not", "~": "not"}


def _operator_hint(text: str) -> Optional[str]:
    """The word meant by an operator of another language: ``|`` is ``or``, ``!x`` is ``not x``, ``a,b`` is ``a b``."""
    if text in _OPERATORS:
        return f"write '{_OPERATORS[text]}' instead (A or B, A and B, not A)"
    if text[:1] in _OPERATORS and _PATTERN.fullmatch(text[1:]):
        return f"write 'not {text[1:]}'"
    if "," in text and all(_PATTERN.fullmatch(part) for part in text.split(",") if part):
        return f"separate keys with spaces: {' '.join(p for p in text.split(',') if p)}"
    return None


def parse(selection: Union[str, Sequence[str]]) -> Expr:
    """The tree of a selection: one string, or command-line arguments (joined by spaces: a union).

    Empty means every asset. Bad syntax raises a SelectionError that points at the column.
    """
    text = selection if isinstance(selection, str) else " ".join(selection)
    if not text.strip():
        return Everything()
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens: List[Token] = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def keyword(self, tok: Optional[Token] = None) -> Optional[str]:
        tok = tok or self.tok
        word = tok.text.lower()
        return word if tok.kind == WORD and word in KEYWORDS and tok.text in (word, word.upper()) else None

    def parse(self) -> Expr:
        expr = self.union()
        if self.tok.kind != END:
            raise self.unexpected(self.tok)
        return expr

    def union(self) -> Expr:
        parts = [self.inter()]
        while True:
            if self.keyword() == "or":
                parts.append(self.inter(after=self.advance()))
            elif self.starts_term():
                parts.append(self.inter())
            else:
                return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def starts_term(self) -> bool:
        tok = self.tok
        return tok.kind in (LPAREN, PLUS) or (tok.kind == WORD and self.keyword() in (None, "not"))

    def inter(self, after: Optional[Token] = None) -> Expr:
        parts = [self.unary(after)]
        while self.keyword() == "and":
            parts.append(self.unary(after=self.advance()))
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def unary(self, after: Optional[Token] = None) -> Expr:
        if self.keyword() == "not":
            return Not(self.unary(after=self.advance()))
        if not self.starts_term():
            if after is not None:
                raise located(self.text, after.start, after.end, f"'{after.text}' needs a selection after it",
                              hint="e.g. group:sales and not tag:slow=true")
            raise self.unexpected(self.tok)
        return self.term()

    def term(self) -> Expr:
        up: Optional[int] = 0
        if self.tok.kind == PLUS:
            plus = self.advance()
            if not plus.depth_first and plus.depth is not None:
                raise located(self.text, plus.start, plus.end, f"'{plus.text}' before a selection",
                              hint=f"the depth goes before the +: {plus.depth}+KEY (upstream, {plus.depth} levels)")
            if plus.end != self.tok.start or self.tok.kind in (END, RPAREN):
                raise self.detached(plus)
            up = plus.depth
        expr = self.primary()
        down: Optional[int] = 0
        end = self.tokens[self.i - 1]
        if self.tok.kind == PLUS and not self.tok.depth_first and self.tok.start == end.end:
            down = self.advance().depth
        return expr if up == 0 and down == 0 else Traverse(expr, up, down)

    def detached(self, plus: Token) -> Exception:
        return located(self.text, plus.start, plus.end, "'+' must touch the selection it extends",
                       hint="+KEY is KEY and its upstream, KEY+ KEY and its downstream (no space)")

    def primary(self) -> Expr:
        tok = self.tok
        if tok.kind == LPAREN:
            self.advance()
            expr = self.union()
            if self.tok.kind != RPAREN:
                if self.tok.kind == END:
                    raise located(self.text, tok.start, tok.end, "'(' is never closed", hint="add a ')'")
                raise self.unexpected(self.tok)
            self.advance()
            return expr
        if tok.kind != WORD or self.keyword() is not None:
            raise self.unexpected(tok)
        self.advance()
        return self.word(tok)

    def word(self, tok: Token) -> Expr:
        colon = split_outside_quotes(tok.text, ":")
        if colon is None:
            if not tok.quoted and not _PATTERN.fullmatch(tok.text):
                raise located(self.text, tok.start, tok.end, f"'{tok.text}' is not an asset key",
                              hint=_operator_hint(tok.text) or _KEY_HINT)
            return Key(unquote(tok.text), tok.start, tok.end)
        field, value = tok.text[:colon], tok.text[colon + 1:]
        if field not in FIELDS:
            raise located(self.text, tok.start, tok.start + colon + 1, f"unknown filter '{field}:'",
                          hint=did_you_mean(field, FIELDS) or "filters are group:, tag:, kind: and key:")
        if not unquote(value):
            raise located(self.text, tok.start, tok.end, f"'{field}:' needs a value",
                          hint=f"e.g. {field}:{'tier=gold' if field == 'tag' else 'sales'}")
        if field == "key":
            return Key(unquote(value), tok.start, tok.end)
        if field == "tag":
            eq = split_outside_quotes(value, "=")
            if eq is not None:
                return Attr("tag", unquote(value[:eq]), unquote(value[eq + 1:]), tok.start, tok.end)
        return Attr(field, unquote(value), None, tok.start, tok.end)

    def unexpected(self, tok: Token) -> Exception:
        if tok.kind == END:
            return located(self.text, tok.start, tok.end, "the selection ends too early", hint="finish it")
        if tok.kind == RPAREN:
            return located(self.text, tok.start, tok.end, "')' without a '(' before it", hint="remove it or add a '('")
        if tok.kind == PLUS:
            return self.detached(tok)
        if self.keyword(tok) in ("and", "or"):
            return located(self.text, tok.start, tok.end, f"'{tok.text}' needs a selection before it",
                           hint="e.g. group:sales and not tag:slow=true")
        return located(self.text, tok.start, tok.end, f"unexpected '{tok.text}'", hint="see `datamake ls --help`")
