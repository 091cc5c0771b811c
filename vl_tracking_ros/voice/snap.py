"""Snap a mis-heard transcript to the closest *grammatical* command.

The commands the tracker understands form a small language: a verb, ``the``
or ``all``, adjectives (colour, size, temperature, texture, speed), a noun,
then post-modifiers (motion, position, ``that is <adj>``, ``in <colour>``, a
relation to an anchor ``left of the box``). :class:`CommandGrammar` builds it
as a word-level finite-state automaton from the tracker's vocabulary (the
world's ``VOCABULARY`` when importable); :meth:`CommandGrammar.snap` aligns a
normalized transcript with the automaton (a shortest path over
(state, word position)) where

* a heard span of 1-2 words may stand for one grammar word: cost
  ``(1 - similarity) * len(grammar word)`` (spelling / rough phonetic
  similarity, :func:`~vl_tracking_ros.voice.normalize.similarity`), so
  "poor sun" -> "person" and "worlds" -> "balls" are possible;
* a heard word the grammar has no place for is dropped: ``len(word) * insert_cost``;
* a function word the grammar needs ("the", "of") may be added: ``len * delete_cost``.

The cost is in letters; :attr:`Snap.distance` divides it by the letters of
the command, so 0 = heard exactly, ~0.1 = one near-miss word, > 0.4 = most
of the words had to change. The pipeline only trusts snaps below a
threshold, and scores the candidate commands with the recognizer itself
(:meth:`~vl_tracking_ros.voice.recognizer.Transcript.scorer`) to choose
between near-equal alternatives ("worlds" -> "balls" or "boxes"?).

Pure text; no model, no ROS.
"""
from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Dict, FrozenSet, List, Optional, Sequence, Tuple

from .normalize import similarity as _similarity
from .vocabulary import CommandVocabulary, _plural

#: spelling / phonetic similarity, memoized (the same heard words meet the same vocabulary again and again)
similarity = lru_cache(maxsize=1 << 16)(_similarity)

#: first words of a command the grammar knows how to continue
VERBS = ("track", "follow", "find")
STOP_WORDS = ("stop", "clear", "cancel", "reset", "halt")
MULTI_WORDS = ("all", "every", "each")


@dataclass(frozen=True)
class Slot:
    """One grammar word on the best path.

    word: the grammar word chosen; heard: the heard span it stands for (""
    when it was added); label: the arc label (a literal word or ``@class``);
    cost: its share of the alignment cost (letters); alternatives: other
    words of the same class for the same heard span, best first, with cost.
    """

    word: str
    heard: str
    label: str
    cost: float
    alternatives: Tuple[Tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Snap:
    """The closest grammatical command to a heard word sequence.

    text: the command (grammar words joined by spaces).
    cost: alignment cost in letters (see the module docstring).
    distance: ``cost / letters of text``: 0 = exact.
    slots: the grammar words with what was heard for each.
    dropped: heard words the grammar had no place for.
    """

    text: str
    cost: float
    distance: float
    slots: Tuple[Slot, ...] = ()
    dropped: Tuple[str, ...] = ()

    def variants(self, max_variants: int = 6) -> List[Tuple[str, float]]:
        """Commands one class word away from this one (the runner-up words
        of uncertain slots), as ``(text, distance)``, most likely first."""
        letters = max(1, sum(len(s.word) for s in self.slots))
        out: List[Tuple[str, float]] = []
        for k, s in enumerate(self.slots):
            for alt, alt_cost in s.alternatives:
                words = [x.word for x in self.slots]
                words[k] = alt
                out.append((" ".join(words), (self.cost - s.cost + alt_cost) / letters))
            if s.label == "@adj":  # an adjective heard where there was none ("the blue person")
                words = [x.word for j, x in enumerate(self.slots) if j != k]
                out.append((" ".join(words), (self.cost - s.cost + len(s.heard.replace(" ", ""))) / letters))
        out.sort(key=lambda t: t[1])
        seen, uniq = {self.text}, []
        for t, d in out:
            if t not in seen:
                seen.add(t)
                uniq.append((t, d))
        return uniq[:max_variants]


@dataclass
class _Fsa:
    arcs: Dict[int, List[Tuple[str, int]]] = field(default_factory=dict)
    finals: set = field(default_factory=set)
    _n: int = 0
    _trie: Dict[Tuple[int, str, int], int] = field(default_factory=dict)

    def new(self) -> int:
        self._n += 1
        self.arcs[self._n] = []
        return self._n

    def add(self, src: int, label: str, dst: int) -> None:
        if (label, dst) not in self.arcs[src]:
            self.arcs[src].append((label, dst))

    def phrase(self, src: int, words: Sequence[str], dst: int) -> None:
        """Literal word sequence src -> dst, sharing prefixes (a trie)."""
        cur = src
        for k, w in enumerate(words):
            if k == len(words) - 1:
                self.add(cur, w, dst)
            else:
                key = (cur, w, dst)
                if key not in self._trie:
                    self._trie[key] = self.new()
                    self.add(cur, w, self._trie[key])
                cur = self._trie[key]


class CommandGrammar:
    """The commands the tracker understands, as a word automaton.

    vocabulary: word groups (:class:`CommandVocabulary`, default: the world's
        vocabulary merged over the fallback lists).
    insert_cost / delete_cost: per-letter cost of dropping a heard word /
        adding a grammar function word (a substitution costs at most 1 per
        letter of the grammar word).
    """

    def __init__(self, vocabulary: Optional[CommandVocabulary] = None, insert_cost: float = 0.8,
                 delete_cost: float = 0.8) -> None:
        self.vocabulary = vocabulary or CommandVocabulary.load()
        self.insert_cost = float(insert_cost)
        self.delete_cost = float(delete_cost)
        # the world's own groups when it is loaded (what the tracker was
        # trained on); the generic fallback lists otherwise
        g = self.vocabulary.prompt_groups or self.vocabulary.groups

        def words(*names: str) -> List[str]:
            out: List[str] = []
            for n in names:
                out += [str(w).lower() for w in g.get(n, ()) if str(w).isalpha()]
            return list(dict.fromkeys(out))

        def phrases(*names: str) -> List[Tuple[str, ...]]:
            out: List[Tuple[str, ...]] = []
            for n in names:
                out += [tuple(str(p).lower().split()) for p in g.get(n, ())]
            return [p for p in dict.fromkeys(out) if p and all(w.isalpha() for w in p)]

        colours = words("colors", "colours")
        nouns = words("categories", "nouns")
        plural_of = {"person": "people", "man": "men", "woman": "women", "child": "children"}
        plurals = {w for w in nouns if w.endswith("s") or w in plural_of.values()}
        singular = [w for w in nouns if w not in plurals]
        plural = list(dict.fromkeys([plural_of.get(w, _plural(w)) for w in singular] + sorted(plurals)))
        self.classes: Dict[str, Tuple[str, ...]] = {
            "@verb": VERBS,
            "@multi": MULTI_WORDS,
            "@adj": tuple(dict.fromkeys(colours + words("sizes", "temperatures", "textures")
                                        + [w for w in words("speeds") if w != "quickly"])),
            "@colour": tuple(colours),
            "@noun": tuple(singular),
            "@nouns": tuple(plural),
            "@part": tuple(words("parts")),
        }
        motions = phrases("motions")
        motions += [("moving", "quickly") + p[1:] if p[0] == "moving" else ("quickly",) + p
                    for p in motions if p[0] != "not" and "stationary" not in p]
        positions = phrases("positions") + [("in", "the", v, h) for v in ("top", "bottom")
                                            for h in ("left", "right")]
        relations = phrases("relations")

        fsa = _Fsa()
        start, verb, det, multi = fsa.new(), fsa.new(), fsa.new(), fsa.new()
        single_np, multi_np, rel, rel_det, anchor = fsa.new(), fsa.new(), fsa.new(), fsa.new(), fsa.new()
        stop = fsa.new()
        self.start = start
        for w in STOP_WORDS:
            fsa.add(start, w, stop)
        stop_tracking = fsa.new()
        fsa.add(stop, "tracking", stop_tracking)
        fsa.finals |= {stop, stop_tracking, single_np, multi_np, anchor}
        fsa.add(start, "@verb", verb)
        fsa.add(verb, "the", det)
        fsa.add(verb, "@multi", multi)
        fsa.add(det, "@adj", det)
        fsa.add(det, "@noun", single_np)
        fsa.add(multi, "@adj", multi)
        fsa.add(multi, "@nouns", multi_np)
        for np_state, is_plural in ((single_np, False), (multi_np, True)):
            for p in motions + positions:
                fsa.phrase(np_state, p, np_state)
            for p in relations:
                fsa.phrase(np_state, p, rel)
            clause = fsa.new()
            for c in ((("that", "are"),) if is_plural else (("that", "is"), ("which", "is"))):
                fsa.phrase(np_state, c, clause)
            fsa.add(clause, "@adj", np_state)
            if self.classes["@colour"]:  # "the person in red", "in the blue jacket", "wearing a red hat"
                dressed, det2, col2 = fsa.new(), fsa.new(), fsa.new()
                for w in ("in", "wearing"):
                    fsa.add(np_state, w, dressed)
                fsa.add(dressed, "@colour", np_state)
                fsa.add(dressed, "the", det2)
                fsa.add(dressed, "a", det2)
                fsa.add(det2, "@colour", col2)
                if self.classes["@part"]:
                    fsa.add(col2, "@part", np_state)
        fsa.add(rel, "the", rel_det)
        fsa.add(rel_det, "@adj", rel_det)
        fsa.add(rel_det, "@noun", anchor)
        self.fsa = fsa
        self._sub_cache: Dict[Tuple[str, str], Tuple[Tuple[str, float], ...]] = {}
        self._snap_cache: Dict[str, Tuple[Optional[Snap]]] = {}

    # ------------------------------------------------------------------ costs
    @property
    def words(self) -> FrozenSet[str]:
        """Every word the grammar can produce."""
        out = set()
        for arcs in self.fsa.arcs.values():
            for label, _ in arcs:
                out |= set(self.classes.get(label, (label,)))
        return frozenset(out)

    def _substitutions(self, span: str, label: str) -> Tuple[Tuple[str, float], ...]:
        """(grammar word, cost) for a heard span (words joined by spaces),
        best first; at most 4."""
        key = (span, label)
        hit = self._sub_cache.get(key)
        if hit is not None:
            return hit
        heard = span.replace(" ", "")
        out = []
        for w in self.classes.get(label, (label,)):
            if w == span:
                out.append((w, 0.0))
                continue
            if not 0.5 <= len(heard) / max(len(w), 1) <= 2.0:
                continue
            out.append((w, (1.0 - similarity(heard, w)) * len(w)))
        out.sort(key=lambda t: t[1])
        res = tuple(out[:4])
        if len(self._sub_cache) > 50000:
            self._sub_cache.clear()
        self._sub_cache[key] = res
        return res

    # ------------------------------------------------------------------ search
    def snap(self, text: str) -> Optional[Snap]:
        """Closest grammatical command to normalized ``text`` (lower case,
        single spaces; see :class:`~vl_tracking_ros.voice.normalize.TranscriptNormalizer`),
        or None when the text does not start with a command verb / stop
        word (non-commands are never snapped into commands) or nothing in
        the grammar fits."""
        toks = text.split()
        if not toks or (toks[0] not in VERBS and toks[0] not in STOP_WORDS):
            return None
        hit = self._snap_cache.get(text)
        if hit is not None:
            return hit[0]
        n = len(toks)
        fsa = self.fsa
        ins, dele = self.insert_cost, self.delete_cost
        spans = {(i, k): " ".join(toks[i:i + k]) for i in range(n) for k in (1, 2) if i + k <= n}
        # Dijkstra over (state, position); back[node] = (prev node, slot or dropped word)
        best: Dict[Tuple[int, int], float] = {(self.start, 0): 0.0}
        back: Dict[Tuple[int, int], Tuple[Tuple[int, int], object]] = {}
        counter = itertools.count()
        heap = [(0.0, next(counter), self.start, 0)]
        done = set()
        goal = None
        push, pop, inf = heapq.heappush, heapq.heappop, float("inf")
        while heap:
            cost, _, s, i = pop(heap)
            if (s, i) in done:
                continue
            done.add((s, i))
            if i == n and s in fsa.finals:
                goal = (s, i)
                break
            steps = []
            if i < n:  # a heard word the grammar has no place for
                steps.append((s, i + 1, cost + ins * len(toks[i]), toks[i]))
            for label, t in fsa.arcs[s]:
                is_class = label[0] == "@"
                for span_len in (1, 2):
                    span = spans.get((i, span_len))
                    if span is None:
                        break
                    subs = self._substitutions(span, label)
                    if subs:
                        w, c = subs[0]
                        steps.append((t, i + span_len, cost + c,
                                      Slot(w, span, label, c, subs[1:] if is_class else ())))
                if not is_class:  # a function word that was not heard
                    steps.append((t, i, cost + dele * len(label), Slot(label, "", label, dele * len(label))))
            for t, j, c, step in steps:
                if c < best.get((t, j), inf):
                    best[(t, j)] = c
                    back[(t, j)] = ((s, i), step)
                    push(heap, (c, next(counter), t, j))
        if goal is None:
            self._snap_cache[text] = (None,)
            return None
        slots: List[Slot] = []
        dropped: List[str] = []
        node = goal
        while node in back:
            prev, step = back[node]
            if isinstance(step, Slot):
                slots.append(step)
            else:
                dropped.append(str(step))
            node = prev
        slots.reverse()
        dropped.reverse()
        total = best[goal]
        letters = max(1, sum(len(s.word) for s in slots))
        out = Snap(" ".join(s.word for s in slots), round(total, 4), round(total / letters, 4),
                   tuple(slots), tuple(dropped))
        if len(self._snap_cache) > 512:
            self._snap_cache.clear()
        self._snap_cache[text] = (out,)
        return out
