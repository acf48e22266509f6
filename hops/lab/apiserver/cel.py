"""The part of CEL that the lab's CRDs use in `x-kubernetes-validations` rules: `has(self.a.b)`, `!`, `&&`, `||`,
parentheses and `true`/`false` (Flux's HelmRelease v2: "either chart or chartRef must be set").

A rule outside that subset is not evaluated (`compile_rule` answers None): the lab only enforces what it understands,
and every rule its own CRDs declare is inside the subset (tests/lab/test_apiserver_typos.py checks it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

Rule = Callable[[Any], bool]

_TOKEN = re.compile(r"\s*(?:(has\(self(?:\.[A-Za-z_][A-Za-z0-9_]*)+\))|(&&|\|\||!|\(|\)|true|false))")


def _tokens(text: str) -> list[str] | None:
    out: list[str] = []
    at = 0
    while at < len(text.rstrip()):
        match = _TOKEN.match(text, at)
        if match is None:
            return None
        out.append(match.group(1) or match.group(2))
        at = match.end()
    return out


def _has(path: list[str]) -> Rule:
    def test(value: Any) -> bool:
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return False
            value = value[key]
        return True
    return test


def _constant(answer: bool) -> Rule:
    return lambda _value: answer


class _Parser:
    """expr := and ('||' and)* ; and := unary ('&&' unary)* ; unary := '!' unary | atom ; atom := has | ( expr )"""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens, self.at = tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> str:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def expr(self) -> Rule:
        parts = [self.conjunction()]
        while self.peek() == "||":
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda v: any(p(v) for p in parts))

    def conjunction(self) -> Rule:
        parts = [self.unary()]
        while self.peek() == "&&":
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda v: all(p(v) for p in parts))

    def unary(self) -> Rule:
        if self.peek() == "!":
            self.take()
            inner = self.unary()
            return lambda v: not inner(v)
        return self.atom()

    def atom(self) -> Rule:
        token = self.take()
        if token == "(":
            inner = self.expr()
            if self.take() != ")":
                raise ValueError("')' expected")
            return inner
        if token in ("true", "false"):
            return _constant(token == "true")
        if token.startswith("has("):
            return _has(token[len("has(self."):-1].split("."))
        raise ValueError(f"unexpected {token!r}")


@lru_cache(maxsize=64)
def compile_rule(text: str) -> Rule | None:
    """The rule as a predicate on `self` (the value the rule is declared on), or None outside the subset."""
    tokens = _tokens(text)
    if not tokens:
        return None
    parser = _Parser(tokens)
    try:
        rule = parser.expr()
    except (ValueError, IndexError):
        return None
    return rule if parser.at == len(tokens) else None
