"""Request text → field, sort and group expressions, in linear time.

Everything a client writes in ``fields``, ``order_by``, ``group_by`` or as a filter's field
name goes through here before the list-query compiler (``ristretto.db.query``) resolves it
against metadata. One left-to-right scan cuts the text into tokens (words, backticked or
quoted names, ``.``, ``(``, ``)``, ``,``, ``*``, ``-``); the parsers then match the token
list against a few fixed shapes, so the cost grows with the length of the text only (the
backtracking patterns this replaces never returned on 50,000 spaces). The only regexes left
are early refusals made of a character class or a fixed word list, linear as well. The
compiler caps the length of every text before it comes here.

A name is used exactly as written: an unbalanced backtick or quote, or a name next to
other text, is refused (417), never trimmed into something that happens to exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import NamedTuple

from ristretto.exceptions import DataError, ValidationError

AGGREGATES = ("count", "sum", "avg", "min", "max")
BLOCKED_FUNCTIONS = {
    "concat", "concat_ws", "if", "ifnull", "nullif", "coalesce", "connection_id", "current_user",
    "database", "last_insert_id", "session_user", "system_user", "user", "version", "global",
    "sleep", "benchmark", "load_file", "pg_sleep",
}

WORD = "word"
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_SPACE = frozenset(" \t\r\n")
_PUNCT = frozenset(".(),*-")
_QUOTES = frozenset("`\"'")
_WORD_RUN = re.compile(r"[A-Za-z0-9_]+")   # one character class: matched in linear time
_NAME_KINDS = (WORD, "`")              # what may name a column or a table
_ALIAS_KINDS = (WORD, "`", '"', "'")   # what may name an alias
_NOT_IN_TERMS = ("(", ")", '"', "'")    # in a sort or group term, outside an aggregate or a lone name
# A bare (unquoted) table qualifier may hold spaces and hyphens: tabSales Order.name
_QUALIFIER_CHARS = _WORD_CHARS | {" ", "-"}
_ALIAS_CHARS = _WORD_CHARS | {" "}


# Early refusals with Frappe's messages. Each pattern is a character class or a fixed word
# list (no nested or overlapping repetition), so it runs in linear time.
_UNION = re.compile(r"\bunion\b")
_SUBQUERY = re.compile(r"\(\s*(select|create|insert|delete|drop|update|case|show)\b")
_STATEMENT = re.compile(r"^\s*(select|delete|update|drop|create)\s")
_CLAUSE = re.compile(r"\s(from|group\s+by|order\s+by|where|join)\s")
_ORDER_CHARS = re.compile(r"^[a-z0-9\-_ ,`'\".()*]*$", re.I)
_ORDER_SUBQUERY = re.compile(r"\bselect\b|\bsleep\s*\(|\bfrom\b|/\*|--")
_GROUP_SUBQUERY = re.compile(r"\bselect\b|\bfrom\b|/\*|--")


def not_permitted(fieldname: str) -> DataError:
    return DataError(f"Field not permitted in query: {fieldname}", title="Invalid field")


def restricted(text: str) -> DataError:
    return DataError(f"Use of sub-query or function is restricted: {text}", title="Invalid field")


def illegal_order(text: str = "order_by") -> ValidationError:
    return ValidationError("Illegal SQL Query", title=f"Invalid {text}")


# --- tokens ------------------------------------------------------------------------------------

class Token(NamedTuple):
    kind: str     # WORD, a quote character (the token is a quoted name) or the punctuation itself
    text: str     # the word, the quoted name without its quotes, or the punctuation
    start: int
    end: int
    space: bool   # whitespace right before it


class TokenError(ValueError):
    """Text outside the vocabulary: a character no expression uses, or an unclosed quote."""


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n, space = 0, len(text), False
    while i < n:
        ch = text[i]
        if ch in _SPACE:
            space = True
            i += 1
            continue
        if ch in _WORD_CHARS:
            j = _WORD_RUN.match(text, i).end()
            tokens.append(Token(WORD, text[i:j], i, j, space))
        elif ch in _QUOTES:
            close = text.find(ch, i + 1)
            if close < 0:
                raise TokenError(f"unclosed {ch}")
            j = close + 1
            tokens.append(Token(ch, text[i + 1:close], i, j, space))
        elif ch in _PUNCT:
            j = i + 1
            tokens.append(Token(ch, ch, i, j, space))
        else:
            raise TokenError(f"character {ch!r}")
        i, space = j, False
    return tokens


def _is_keyword(token: Token, word: str) -> bool:
    return token.kind == WORD and token.text.lower() == word


def _span(source: str, tokens: list[Token]) -> str:
    return source[tokens[0].start:tokens[-1].end] if tokens else ""


def split_top_level(text: str) -> list[str]:
    """``fields`` as a comma list ("name, status"): split on commas outside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _split_commas(tokens: list[Token]) -> list[list[Token]]:
    """Split on commas outside parentheses."""
    parts: list[list[Token]] = [[]]
    depth = 0
    for t in tokens:
        if t.kind == "(":
            depth += 1
        elif t.kind == ")":
            depth -= 1
        if t.kind == "," and depth <= 0:
            parts.append([])
        else:
            parts[-1].append(t)
    return parts


# --- shapes ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ref:
    """A column reference ``col`` or ``qualifier.col`` (a Table/Link field or a table)."""
    qual: str | None
    col: str
    text: str     # as written, for messages


@dataclass(frozen=True)
class Aggregate:
    fn: str                 # lower case, one of AGGREGATES
    distinct: bool
    arg: Ref | None         # None: ``*``


@dataclass(frozen=True)
class FieldExpr:
    """One entry of ``fields``: ``[distinct] (column | aggregate | * | table.*) [as alias]``."""
    distinct: bool = False
    alias: str | None = None
    star: str | None = None     # "" for ``*``, else the table of ``table.*``
    ref: Ref | None = None
    aggregate: Aggregate | None = None


@dataclass(frozen=True)
class Term:
    """A sort or group term: an output name (alias or selected field), a column, an aggregate."""
    output: str | None = None   # the name, when the term may name a selected output
    ref: Ref | None = None
    aggregate: Aggregate | None = None
    desc: bool = False
    text: str = ""
    whole: str | None = None    # order_by: the whole term (direction included) as an output name


def _ref(tokens: list[Token], source: str) -> Ref:
    """``col`` | ``qualifier.col``; a refusal names the text when it looks like a name."""
    text = _span(source, tokens)
    if len(tokens) == 1 and tokens[0].kind in _NAME_KINDS:
        return Ref(None, tokens[0].text, text)
    dots = [i for i, t in enumerate(tokens) if t.kind == "."]
    if len(dots) == 1:
        k = dots[0]
        qual_tokens, col_tokens = tokens[:k], tokens[k + 1:]
        if len(col_tokens) == 1 and col_tokens[0].kind in _NAME_KINDS and not col_tokens[0].space \
                and not tokens[k].space:
            qual = _qualifier(qual_tokens, source)
            if qual is not None:
                return Ref(qual, col_tokens[0].text, text)
    if all(t.kind in _NAME_KINDS or t.kind == "." for t in tokens):
        raise not_permitted(text)
    raise restricted(text)


def _qualifier(tokens: list[Token], source: str) -> str | None:
    if len(tokens) == 1 and tokens[0].kind in _NAME_KINDS:
        return tokens[0].text
    if tokens and tokens[0].kind == WORD and all(t.kind in (WORD, "-") for t in tokens):
        text = _span(source, tokens)
        if all(c in _QUALIFIER_CHARS for c in text):
            return text
    return None


def _aggregate(tokens: list[Token], source: str, refuse) -> Aggregate:
    """``fn ( [distinct] (* | column) )``; ``tokens`` start with the function's name and ``(``."""
    fn = tokens[0].text.lower()
    inner = tokens[2:-1]
    if tokens[-1].kind != ")" or len(tokens) < 4 or any(t.kind in ("(", ")") for t in inner):
        raise refuse()
    distinct = len(inner) > 1 and _is_keyword(inner[0], "distinct") and inner[1].space
    if distinct:
        inner = inner[1:]
    if len(inner) == 1 and inner[0].kind == "*":
        if fn != "count":
            raise refuse()
        return Aggregate(fn, distinct, None)
    return Aggregate(fn, distinct, _ref(inner, source))


def _is_call(tokens: list[Token]) -> bool:
    return len(tokens) >= 2 and tokens[0].kind == WORD and tokens[1].kind == "("


def _tokens_of(text: str) -> list[Token]:
    """The tokens of a name or expression; text that does not tokenize, or none, is refused."""
    try:
        tokens = tokenize(text)
    except TokenError:
        raise (not_permitted(text) if _only_name_chars(text) else restricted(text)) from None
    if not tokens:
        raise not_permitted(text)
    return tokens


def parse_ref(text: str) -> Ref:
    """A filter's field name: a column reference and nothing else."""
    return _ref(_tokens_of(text), text)


def _only_name_chars(text: str) -> bool:
    return all(c in _WORD_CHARS or c in "`. " for c in text)


def _guard_field(text: str) -> None:
    low = text.lower()
    if "/*" in low or "--" in low or ";" in low or _UNION.search(low):
        raise ValidationError("Illegal SQL Query", title="Invalid field")
    if _SUBQUERY.search(low) or _STATEMENT.match(low) or _CLAUSE.search(low):
        raise restricted(text)


def parse_field(text: str) -> FieldExpr:
    """One field expression (already stripped of surrounding whitespace)."""
    _guard_field(text)
    tokens = _tokens_of(text)
    distinct = len(tokens) > 1 and _is_keyword(tokens[0], "distinct") and tokens[1].space
    body = tokens[1:] if distinct else tokens
    alias = None
    if len(body) >= 3 and _is_keyword(body[-2], "as") and body[-2].space and body[-1].space \
            and body[-1].kind in _ALIAS_KINDS:
        alias = body[-1].text
        body = body[:-2]
        if not _valid_alias(alias):
            raise restricted(text)
    if len(body) == 1 and body[0].kind == "*":
        star = ""
    elif len(body) >= 3 and body[-1].kind == "*" and body[-2].kind == "." and not body[-1].space \
            and not body[-2].space:
        star = _qualifier(body[:-2], text)
        if star is None:
            raise restricted(text)
    else:
        star = None
    if star is not None:
        if alias is not None or distinct:
            raise restricted(text)
        return FieldExpr(star=star)
    if _is_call(body):
        fn = body[0].text.lower()
        if fn in BLOCKED_FUNCTIONS:
            raise DataError(f"Use of function {fn} in field is restricted", title="Invalid field")
        if fn not in AGGREGATES:
            raise restricted(text)
        return FieldExpr(distinct, alias, aggregate=_aggregate(body, text, lambda: restricted(text)))
    if any(t.kind in ("(", ")") for t in body):
        raise restricted(text)
    return FieldExpr(distinct, alias, ref=_ref(body, text))


def _valid_alias(alias: str) -> bool:
    # A letter or underscore first, then letters, digits, underscores, spaces; at most 64.
    return 0 < len(alias) <= 64 and alias[0] not in "0123456789 " and all(c in _ALIAS_CHARS for c in alias)


def parse_order(text: str) -> list[Term]:
    """``order_by``: comma-separated ``expression [asc|desc]``."""
    if not _ORDER_CHARS.match(text):
        raise illegal_order()
    if _ORDER_SUBQUERY.search(text.lower()):
        raise ValidationError("Cannot use sub-query in order by", title="Illegal SQL Query")
    try:
        tokens = tokenize(text)
    except TokenError:
        raise illegal_order() from None
    terms = []
    for part in _split_commas(tokens):
        if not part:
            continue
        # An alias may hold spaces and end in a word like "desc": the whole term may name it.
        whole = _words(part, text) if len(part) > 1 else None
        desc = False
        if len(part) >= 2 and part[-1].space and (_is_keyword(part[-1], "asc") or _is_keyword(part[-1], "desc")):
            desc = _is_keyword(part[-1], "desc")
            part = part[:-1]
        terms.append(replace(_sort_term(part, text, _span(text, part), desc), whole=whole))
    return terms


def _words(tokens: list[Token], source: str) -> str | None:
    """The text of a run of plain words (a possible alias with spaces), else None."""
    if tokens and all(t.kind == WORD for t in tokens):
        return _span(source, tokens)
    return None


def _sort_term(part: list[Token], source: str, text: str, desc: bool) -> Term:
    if len(part) == 1 and part[0].kind in _ALIAS_KINDS:
        ref = Ref(None, part[0].text, text) if part[0].kind in _NAME_KINDS else None
        return Term(output=part[0].text, ref=ref, desc=desc, text=text)
    if _is_call(part):
        if part[0].text.lower() not in AGGREGATES:
            raise illegal_order()
        return Term(aggregate=_aggregate(part, source, illegal_order), desc=desc, text=text)
    if any(t.kind in _NOT_IN_TERMS for t in part):
        raise illegal_order()
    words = _words(part, source)
    return Term(output=words, ref=None if words else _ref(part, source), desc=desc, text=text)


def parse_group(text: str) -> list[Term]:
    """``group_by``: comma-separated columns or output names."""
    if not _ORDER_CHARS.match(text) or "(" in text or _GROUP_SUBQUERY.search(text.lower()):
        raise illegal_order("group_by")
    try:
        tokens = tokenize(text)
    except TokenError:
        raise illegal_order("group_by") from None
    terms = []
    for part in _split_commas(tokens):
        if not part:
            continue
        term_text = _span(text, part)
        if len(part) == 1 and part[0].kind in _ALIAS_KINDS:
            ref = Ref(None, part[0].text, term_text) if part[0].kind in _NAME_KINDS else None
            terms.append(Term(output=part[0].text, ref=ref, text=term_text))
        elif any(t.kind in _NOT_IN_TERMS for t in part):
            raise illegal_order("group_by")
        else:
            words = _words(part, text)
            terms.append(Term(output=words, ref=None if words else _ref(part, text), text=term_text))
    return terms
