"""Parse the user's plain-language commands (numpy-free, stdlib only).

Grammar (case-insensitive verbs; clauses separated by ``;`` or new lines)::

    command  := clause (";" clause)*
    clause   := "stop" | "clear" | "cancel" | "reset" | "stop tracking"
              | ["also" | "and"] verb ["all" | "every" | "each"] expression
              | "add" expression
    verb     := "track" | "follow" | "find"

* ``track the red car`` -> one single-target query.
* ``track all people walking left`` -> one multi-target query (every match).
* ``track the red car; track all people walking left`` -> both at once.
* ``also track the dog`` / ``add the dog`` -> action ``add`` (keep the
  current queries and add these).
* ``stop`` / ``clear`` -> action ``stop`` (no queries). Clauses are applied in
  order: ``stop; track the dog`` tracks the dog, ``track the dog; stop`` stops.
* A leading ``please`` is ignored. A bare expression without a verb
  (``the red car``) is rejected with a :class:`CommandError` that suggests
  ``track the red car`` -- guessing would make a typo'd ``stpo`` track an
  object called "stpo".

Text is made safe first: NFC normalisation, control and format characters
removed (tabs / new lines become spaces or separators), whitespace collapsed.
Expressions are lower-cased and trailing punctuation is stripped.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import List, Tuple

from .types import TargetQuery

__all__ = ["CommandError", "ParsedCommand", "parse_command", "normalize_expression", "ACTIONS",
           "MAX_QUERIES"]

ACTIONS = ("track", "stop", "add")
MAX_QUERIES = 16
_STOP_WORDS = {"stop", "clear", "cancel", "reset", "stop tracking", "stop all", "clear all", "halt"}
_VERBS = ("track", "follow", "find")
_MULTI_WORDS = ("all", "every", "each")
_ADD_PREFIXES = ("also", "and")
_EXPR_MAX_CHARS = 256


class CommandError(ValueError):
    """A command that cannot be understood; the message says why and how to
    write it (shown to the user by the console and the service)."""


@dataclass(frozen=True)
class ParsedCommand:
    """Result of :func:`parse_command`.

    action: 'track' (replace the active queries with ``queries``), 'add'
        (append ``queries`` to the active ones) or 'stop' (clear all).
    queries: the parsed target queries, in order, without duplicates.
    raw: the original text (before normalisation).
    """

    action: str
    queries: Tuple[TargetQuery, ...]
    raw: str

    def texts(self) -> List[str]:
        """Canonical text of each query ('track ...' / 'track all ...')."""
        return [str(q) for q in self.queries]

    def apply_to(self, active: List[TargetQuery]) -> List[TargetQuery]:
        """The query list after applying this command to ``active``."""
        if self.action == "stop":
            return []
        if self.action == "track":
            return list(self.queries)
        out = list(active)
        for q in self.queries:
            if q not in out:
                out.append(q)
        if len(out) > MAX_QUERIES:
            raise CommandError(f"at most {MAX_QUERIES} targets at once; this would make {len(out)}")
        return out


def _clean(text: str) -> str:
    """NFC, control / format characters removed (line breaks -> ';'),
    whitespace collapsed."""
    text = unicodedata.normalize("NFC", text)
    out = []
    for ch in text:
        if ch in "\n\r\u2028\u2029":
            out.append(";")
            continue
        cat = unicodedata.category(ch)
        if ch in "\t\v\f" or cat == "Zs":
            out.append(" ")
        elif cat in ("Cc", "Cf", "Cs", "Co", "Cn"):
            continue
        else:
            out.append(ch)
    return re.sub(r"\s+", " ", "".join(out)).strip()


def normalize_expression(text: str) -> str:
    """Canonical form of a referring expression: cleaned like commands,
    lower-cased, surrounding quotes and trailing ``.!?,`` removed.
    Raises CommandError when nothing is left or it exceeds 256 characters."""
    if not isinstance(text, str):
        raise CommandError(f"expression must be text, got {type(text).__name__}")
    expr = _clean(text).replace(";", " ")
    expr = re.sub(r"\s+", " ", expr).strip()
    expr = expr.strip(" \"'\u201c\u201d\u2018\u2019`")
    expr = re.sub(r"[\s.!?,]+$", "", expr).strip()
    expr = expr.lower()
    if not expr:
        raise CommandError("empty expression: say what to track, e.g. 'track the red car'")
    if len(expr) > _EXPR_MAX_CHARS:
        raise CommandError(f"expression is {len(expr)} characters; the limit is {_EXPR_MAX_CHARS}")
    return expr


def _parse_clause(clause: str) -> Tuple[str, TargetQuery]:
    """-> (kind, query) with kind 'stop', 'track' or 'add'."""
    low = clause.lower().rstrip(" .!")
    if low.startswith("please "):
        clause = clause[7:].lstrip()
        low = low[7:].lstrip()
    if low in _STOP_WORDS:
        return "stop", None
    words = clause.split(" ")
    kind = "track"
    i = 0
    if words[0].lower() in _ADD_PREFIXES and len(words) > 1 and words[1].lower() in _VERBS:
        kind, i = "add", 1
    elif words[0].lower() == "add":
        if len(words) == 1:
            raise CommandError("'add' needs an expression, e.g. 'add the blue bike'")
        rest = " ".join(words[1:])
        multi = False
        if words[1].lower() in _MULTI_WORDS and len(words) > 2:
            multi, rest = True, " ".join(words[2:])
        return "add", TargetQuery(normalize_expression(rest), multi=multi)
    if words[i].lower() not in _VERBS:
        suggestion = normalize_expression(clause) if clause.strip(" .!?") else ""
        raise CommandError(f"no command verb in {clause[:60]!r}: start with 'track' "
                           f"(e.g. 'track {suggestion[:60]}'), 'track all ...' or 'stop'")
    rest_words = words[i + 1:]
    multi = False
    if rest_words and rest_words[0].lower() in _MULTI_WORDS:
        multi = True
        rest_words = rest_words[1:]
        if len(rest_words) > 1 and rest_words[0].lower() == "of":   # "track all of the people"
            rest_words = rest_words[1:]
    if not rest_words or not " ".join(rest_words).strip(" .!?\"'"):
        verb = words[i].lower() + (" all" if multi else "")
        example = "red cars" if multi else "the red car"
        raise CommandError(f"'{verb}' needs an expression, e.g. '{verb} {example}'")
    return kind, TargetQuery(normalize_expression(" ".join(rest_words)), multi=multi)


def parse_command(text: str, max_chars: int = 512) -> ParsedCommand:
    """Parse one command string (see the module docstring for the grammar).

    max_chars: longest accepted input (before cleaning); longer input is
    rejected without being processed. Raises CommandError with a specific
    message for: non-text input, empty / whitespace-only input, too long
    input, a clause without a verb, a verb without an expression, more than
    16 targets.
    """
    if not isinstance(text, str):
        raise CommandError(f"command must be text, got {type(text).__name__}")
    if len(text) > max_chars:
        raise CommandError(f"command is {len(text)} characters; the limit is {max_chars}")
    cleaned = _clean(text)
    clauses = [c.strip() for c in cleaned.split(";")]
    clauses = [c for c in clauses if c]
    if not clauses:
        raise CommandError("empty command: try 'track the red car', 'track all people' or 'stop'")
    queries: List[TargetQuery] = []
    action = None
    for clause in clauses:
        kind, query = _parse_clause(clause)
        if kind == "stop":
            queries, action = [], "stop"
            continue
        if kind == "track":
            action = "track"
        elif action is None:
            action = "add"
        elif action == "stop":
            action = "track"  # "stop; also track x" == "track x"
        if query not in queries:
            queries.append(query)
    if len(queries) > MAX_QUERIES:
        raise CommandError(f"at most {MAX_QUERIES} targets at once, got {len(queries)}")
    return ParsedCommand(action=action, queries=tuple(queries), raw=text)
