"""Is a normalized transcript a tracker command? (adapter to the core parser)

The tracker node's ``command`` topic takes ``track <expression>``,
``track all <expression>`` and ``stop``. The authoritative parser is
``vl_tracking_ros.core.commands.parse_command`` (CORE area); it is imported
lazily and used when present. :func:`fallback_parse` implements the same
three-form grammar for when it is not (it is also the reference the tests
check the core parser against, not a replacement for it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Tuple

from vl_tracking_ros.core.types import TargetQuery


class NotACommand(ValueError):
    """The text does not parse as a tracker command (reason in the message)."""


@dataclass(frozen=True)
class AcceptedCommand:
    """A transcript that parsed as a command.

    text: the canonical command string published on ``command``
        (``"stop"``, ``"track <expr>"``, ``"track all <expr>"``; several
        clauses joined by ``"; "``; ``"also track ..."`` for the core
        parser's "add" action).
    queries: the parsed target queries (empty for ``stop``).
    """

    text: str
    queries: Tuple[TargetQuery, ...] = ()

    @property
    def is_stop(self) -> bool:
        return not self.queries


def fallback_parse(text: str) -> AcceptedCommand:
    """Minimal grammar: ``stop`` | ``track [all] <expression>``."""
    words = text.strip().lower().split()
    if not words:
        raise NotACommand("empty command")
    if words == ["stop"]:
        return AcceptedCommand("stop")
    if words[0] != "track":
        raise NotACommand(f"a command starts with 'track' or is 'stop', got {words[0]!r}")
    multi = len(words) > 1 and words[1] == "all"
    expr = words[2:] if multi else words[1:]
    if not expr:
        raise NotACommand("'track' needs an expression (e.g. 'track the red car')")
    q = TargetQuery(expression=" ".join(expr), multi=multi)
    return AcceptedCommand(str(q), (q,))


def _core_parser() -> Optional[Callable[[str], object]]:
    try:
        from vl_tracking_ros.core import commands  # CORE area, may not exist yet
    except ImportError:
        return None
    return getattr(commands, "parse_command", None)


def _core_error_types() -> Tuple[type, ...]:
    try:
        from vl_tracking_ros.core import commands
    except ImportError:
        return (ValueError,)
    err = getattr(commands, "CommandError", None)
    return (err, ValueError) if isinstance(err, type) else (ValueError,)


def _queries_of(parsed: object) -> Tuple[TargetQuery, ...]:
    for name in ("queries", "query", "targets", "target"):
        v = getattr(parsed, name, None)
        if v is None:
            continue
        if isinstance(v, TargetQuery):
            return (v,)
        if isinstance(v, (list, tuple)):
            return tuple(q for q in v if isinstance(q, TargetQuery))
    return ()


def parse(text: str, use_core: bool = True) -> AcceptedCommand:
    """Parse ``text`` as a command; raise :class:`NotACommand` otherwise.

    With ``use_core`` (default) the core parser decides and its canonical
    form is published; without it (or when it is absent) the fallback does.
    """
    core = _core_parser() if use_core else None
    if core is None:
        return fallback_parse(text)
    try:
        parsed = core(text)
    except _core_error_types() as exc:
        raise NotACommand(str(exc)) from exc
    queries = _queries_of(parsed)
    action = str(getattr(parsed, "action", "track" if queries else "stop")).lower()
    if action == "stop" or (not queries and getattr(parsed, "is_stop", False)):
        return AcceptedCommand("stop")
    if not queries:  # an unknown result shape: let the fallback decide
        return fallback_parse(text)
    prefix = "also " if action == "add" else ""
    return AcceptedCommand("; ".join(prefix + str(q) for q in queries), queries)
