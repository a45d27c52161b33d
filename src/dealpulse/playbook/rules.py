"""Segment rules such as `amount >= 5000000 and channel in ("partner", "events")`.

Parsed by a small recursive-descent parser, never `eval`-ed. A rule can be evaluated on a dict
(`Rule.evaluate`) or compiled to an Ibis boolean expression over a table (`Rule.to_ibis`), so the
engine computes segments itself.

Grammar:
    expr   := and_ ("or" and_)*
    and_   := not_ ("and" not_)*
    not_   := "not" not_ | atom
    atom   := "(" expr ")" | "true" | "false" | NAME OP literal | NAME "in" "(" literal ("," literal)* ")"
    OP     := >= <= > < == !=
    literal:= number | quoted string
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dealpulse.errors import InputError

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>-?\d[\d_]*(?:\.\d+)?)
      | (?P<str>"[^"]*"|'[^']*')
      | (?P<op>>=|<=|==|!=|>|<|\(|\)|,|\[|\])
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)

COMPARATORS = (">=", "<=", "==", "!=", ">", "<")


@dataclass(frozen=True)
class Node:
    kind: str  # "const", "cmp", "in", "and", "or", "not"
    value: Any = None
    field: str | None = None
    op: str | None = None
    children: tuple["Node", ...] = ()


def _tokenize(text: str) -> list[tuple[str, Any]]:
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise InputError(f"cannot read the rule {text!r} at character {pos + 1}: {text[pos:pos + 10]!r}")
        pos = m.end()
        if m.group("num") is not None:
            raw = m.group("num").replace("_", "")
            out.append(("lit", float(raw) if "." in raw else int(raw)))
        elif m.group("str") is not None:
            out.append(("lit", m.group("str")[1:-1]))
        elif m.group("op") is not None:
            out.append(("op", m.group("op")))
        else:
            name = m.group("name")
            low = name.lower()
            if low in ("and", "or", "not", "in"):
                out.append(("kw", low))
            elif low in ("true", "false"):
                out.append(("lit", low == "true"))
            else:
                out.append(("name", name))
    return out


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, Any]:
        tok = self.peek()
        if tok is None:
            raise InputError(f"the rule {self.text!r} ends too early")
        self.i += 1
        return tok

    def expect(self, kind: str, value: Any) -> None:
        tok = self.take()
        if tok != (kind, value):
            raise InputError(f"in the rule {self.text!r}: expected {value!r}, found {tok[1]!r}")

    def parse(self) -> Node:
        node = self.expr()
        if self.peek() is not None:
            raise InputError(f"in the rule {self.text!r}: unexpected {self.peek()[1]!r}")
        return node

    def expr(self) -> Node:
        parts = [self.and_()]
        while self.peek() == ("kw", "or"):
            self.take()
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else Node("or", children=tuple(parts))

    def and_(self) -> Node:
        parts = [self.not_()]
        while self.peek() == ("kw", "and"):
            self.take()
            parts.append(self.not_())
        return parts[0] if len(parts) == 1 else Node("and", children=tuple(parts))

    def not_(self) -> Node:
        if self.peek() == ("kw", "not"):
            self.take()
            return Node("not", children=(self.not_(),))
        return self.atom()

    def atom(self) -> Node:
        kind, value = self.take()
        if (kind, value) == ("op", "("):
            node = self.expr()
            self.expect("op", ")")
            return node
        if kind == "lit" and isinstance(value, bool):
            return Node("const", value=value)
        if kind != "name":
            raise InputError(f"in the rule {self.text!r}: expected a field name, found {value!r}")
        field = value
        kind2, op = self.take()
        if (kind2, op) == ("kw", "in"):
            opener = self.take()
            if opener not in (("op", "("), ("op", "[")):
                raise InputError(f"in the rule {self.text!r}: expected a list after 'in'")
            closer = ")" if opener[1] == "(" else "]"
            items = []
            while True:
                k, v = self.take()
                if k != "lit":
                    raise InputError(f"in the rule {self.text!r}: expected a value in the list, found {v!r}")
                items.append(v)
                k, v = self.take()
                if (k, v) == ("op", closer):
                    break
                if (k, v) != ("op", ","):
                    raise InputError(f"in the rule {self.text!r}: expected ',' or {closer!r}, found {v!r}")
            return Node("in", field=field, value=tuple(items))
        if kind2 != "op" or op not in COMPARATORS:
            raise InputError(f"in the rule {self.text!r}: expected a comparison after {field!r}, found {op!r}")
        k, lit = self.take()
        if k != "lit":
            raise InputError(f"in the rule {self.text!r}: expected a number or a quoted text, found {lit!r}")
        return Node("cmp", field=field, op=op, value=lit)


def _compare(left: Any, op: str, right: Any) -> bool:
    if left is None:
        return False
    if isinstance(right, (int, float)) and not isinstance(right, bool):
        try:
            left = float(left)
        except (TypeError, ValueError):
            return False
    else:
        left = str(left)
    return {
        ">=": lambda: left >= right, "<=": lambda: left <= right, ">": lambda: left > right,
        "<": lambda: left < right, "==": lambda: left == right, "!=": lambda: left != right,
    }[op]()


@dataclass(frozen=True)
class Rule:
    text: str
    root: Node

    @property
    def fields(self) -> set[str]:
        out: set[str] = set()

        def walk(n: Node) -> None:
            if n.field:
                out.add(n.field)
            for c in n.children:
                walk(c)

        walk(self.root)
        return out

    def evaluate(self, row: dict[str, Any]) -> bool:
        def ev(n: Node) -> bool:
            if n.kind == "const":
                return bool(n.value)
            if n.kind == "cmp":
                return _compare(row.get(n.field), n.op, n.value)
            if n.kind == "in":
                v = row.get(n.field)
                return v is not None and any(_compare(v, "==", item) for item in n.value)
            if n.kind == "and":
                return all(ev(c) for c in n.children)
            if n.kind == "or":
                return any(ev(c) for c in n.children)
            return not ev(n.children[0])

        return ev(self.root)

    def to_ibis(self, table: Any) -> Any:
        """An Ibis boolean expression; a missing value compares false (as in `evaluate`)."""
        import ibis

        def col(name: str, numeric: bool) -> Any:
            if name not in table.columns:
                return ibis.null().cast("float64" if numeric else "string")
            c = table[name]
            if numeric and not c.type().is_numeric():
                from dealpulse.metrics.asof import _to_float

                c = _to_float(c.cast("string"))
            elif not numeric and not c.type().is_string():
                c = c.cast("string")
            return c

        def ev(n: Node) -> Any:
            if n.kind == "const":
                return ibis.literal(bool(n.value))
            if n.kind == "cmp":
                numeric = isinstance(n.value, (int, float)) and not isinstance(n.value, bool)
                c = col(n.field, numeric)
                expr = {
                    ">=": c >= n.value, "<=": c <= n.value, ">": c > n.value,
                    "<": c < n.value, "==": c == n.value, "!=": c != n.value,
                }[n.op]
                return expr.fill_null(False)
            if n.kind == "in":
                numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in n.value)
                return col(n.field, numeric).isin(list(n.value)).fill_null(False)
            if n.kind == "and":
                out = ev(n.children[0])
                for c in n.children[1:]:
                    out = out & ev(c)
                return out
            if n.kind == "or":
                out = ev(n.children[0])
                for c in n.children[1:]:
                    out = out | ev(c)
                return out
            return ~ev(n.children[0])

        return ev(self.root)


def parse_rule(text: str) -> Rule:
    """Parse a rule; raises InputError naming what is wrong."""
    if isinstance(text, bool):
        text = "true" if text else "false"
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"a rule must be a text such as 'amount >= 1000000', got {text!r}")
    return Rule(text=text, root=_Parser(text).parse())
