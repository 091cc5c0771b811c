"""Transcript normalization: casing, punctuation, numbers, wake word and
vocabulary-aware correction of near-miss words.

Correction is generic, not a table of fixes: a word the vocabulary does not
know is replaced by the most similar vocabulary word when the similarity of
their spellings *or* of their rough phonetic keys reaches ``snap_threshold``
("red card" -> "red car", "jackit" -> "jacket"). The first word of a command
is matched against the command verbs only (the grammar says a verb goes
there: "truck the dog" -> "track the dog").
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from typing import FrozenSet, List, Optional, Sequence, Tuple

from .vocabulary import COMMAND_VERBS, FUNCTION_WORDS, GRAMMAR_WORDS, CommandVocabulary

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
         "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth",
             7: "seventh", 8: "eighth", 9: "ninth", 10: "tenth", 11: "eleventh", 12: "twelfth"}
_FILLERS_LEADING = frozenset("please okay ok so now um uh hey hi well".split())
_FILLERS_TRAILING = frozenset("please now thanks thank you".split())


def number_to_words(n: int) -> str:
    """0..99 as English words ("21" -> "twenty one"); larger numbers unchanged."""
    if 0 <= n < 20:
        return _ONES[n]
    if 20 <= n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    return str(n)


def _number_token(tok: str) -> str:
    m = re.fullmatch(r"(\d+)(st|nd|rd|th)?", tok)
    if not m:
        return tok
    n = int(m.group(1))
    if m.group(2):
        return _ORDINALS.get(n, tok)
    return number_to_words(n)


def basic_normalize(text: str) -> str:
    """Lower case, digits -> words, punctuation -> spaces, single spaces.

    ``"Track the 2nd Red-Car!"`` -> ``"track the second red car"``.
    """
    t = text.lower().replace("’", "'")
    t = re.sub(r"[-_/]", " ", t)
    t = re.sub(r"[^a-z0-9' ]+", " ", t)
    t = t.replace("'", "")
    return " ".join(_number_token(tok) for tok in t.split())


@lru_cache(maxsize=1 << 14)
def phonetic_key(word: str) -> str:
    """Rough sound-alike key: c/k/q -> k, ph -> f, z -> s, y -> i, runs of
    the same letter and runs of vowels collapsed to their first letter,
    silent final e dropped. "card"->"kard", "jackit"->"jakit",
    "jacket"->"jaket", "colour"->"kolor"."""
    w = word.lower()
    for a, b in (("ph", "f"), ("ck", "k"), ("qu", "kw"), ("q", "k"), ("x", "ks"), ("wh", "w"),
                 ("z", "s"), ("c", "k"), ("y", "i")):
        w = w.replace(a, b)
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    out: List[str] = []
    for i, ch in enumerate(w):
        if out and (out[-1] == ch or (ch in "aeiou" and out[-1] in "aeiou" and i > 0)):
            continue
        out.append(ch)
    return "".join(out)


def similarity(a: str, b: str) -> float:
    """max(spelling, phonetic-key) similarity in [0, 1] (difflib ratio).

    The phonetic keys are only compared when both have 4+ letters: short
    keys collapse too much ("yet" and "white" both become 2-3 letters)."""
    s1 = SequenceMatcher(None, a, b).ratio()
    ka, kb = phonetic_key(a), phonetic_key(b)
    if min(len(ka), len(kb)) < 4:
        return s1
    return max(s1, SequenceMatcher(None, ka, kb).ratio())


@dataclass
class Normalized:
    """Result of :meth:`TranscriptNormalizer.normalize`.

    text: normalized text without wake word and fillers ("" if nothing left).
    plain: :func:`basic_normalize` of the raw transcript (for WER).
    wake_word_heard: whether the wake word started the utterance.
    corrections: (heard, replaced-by) pairs applied by vocabulary snapping.
    dropped: sentences after the first one (not used, see ``first_sentence_only``).
    """

    text: str
    plain: str
    wake_word_heard: bool = False
    corrections: List[Tuple[str, str]] = field(default_factory=list)
    dropped: List[str] = field(default_factory=list)


class TranscriptNormalizer:
    """Normalize a raw transcript into command text.

    vocabulary: the words the tracker knows (:class:`CommandVocabulary`).
    wake_word: e.g. "robot"; detected (fuzzily) at the start and removed.
        ``None`` disables wake-word handling.
    snap_threshold: minimum :func:`similarity` to replace an unknown word by a
        vocabulary word. Lower fixes more mis-hearings but also rewrites
        genuine out-of-vocabulary words; 1.0 disables snapping.
    verb_threshold: the same for the first word against the command verbs
        (lower: the grammar makes a verb there very likely).
    first_sentence_only: one utterance is one command; when the transcript
        has several sentences, only the first with content is used (after a
        bare wake word or filler). Whisper tends to continue a command-style
        prompt on noisy padding ("track the dog. track the"); this drops that
        tail, at the cost of ignoring a second command said without a pause.
    """

    def __init__(self, vocabulary: Optional[CommandVocabulary] = None, wake_word: Optional[str] = None,
                 snap_threshold: float = 0.8, verb_threshold: float = 0.6,
                 first_sentence_only: bool = True) -> None:
        self.vocabulary = vocabulary or CommandVocabulary.load()
        self.wake_word = basic_normalize(wake_word) if wake_word else None
        self.snap_threshold = float(snap_threshold)
        self.verb_threshold = float(verb_threshold)
        self.first_sentence_only = bool(first_sentence_only)
        self._known: FrozenSet[str] = self.vocabulary.known_words
        self._phrases = self.vocabulary.phrases
        self._plural_of = self.vocabulary.plural_of
        self._plurals = frozenset(self._plural_of.values())
        # snap targets: content words only ("mat" must not become "at")
        self._content: Tuple[str, ...] = tuple(sorted(w for w in self.vocabulary.content_words
                                                      if w not in FUNCTION_WORDS and len(w) >= 3))
        self._cache: dict = {}

    # -------------------------------------------------------------- helpers
    def _best(self, word: str, candidates: Sequence[str]) -> Tuple[str, float]:
        best, score = word, 0.0
        for c in candidates:
            if abs(len(c) - len(word)) > max(3, len(word) // 2):
                continue
            s = similarity(word, c)
            if s > score:
                best, score = c, s
        return best, score

    def _snap(self, word: str) -> str:
        if word in self._known or not word.isalpha() or len(word) < 3:
            return word
        if word not in self._cache:
            best, score = self._best(word, self._content)
            self._cache[word] = best if score >= self.snap_threshold else word
        return self._cache[word]

    def _snap_phrases(self, tokens: List[str], start: int) -> List[Tuple[str, str]]:
        """Phrase-level correction, in place: a window of 2-4 words that is
        one word away from a vocabulary phrase (the other words identical) is
        replaced by it when the differing words are both function words
        ("left on" -> "left of") or sound alike ("moving light" -> "moving
        right"). Windows that already are vocabulary phrases, or overlap one,
        are left alone."""
        fixes: List[Tuple[str, str]] = []
        if not self._phrases:
            return fixes
        exact = [False] * len(tokens)
        for n in (4, 3, 2):
            for i in range(start, len(tokens) - n + 1):
                if tuple(tokens[i:i + n]) in self._phrases:
                    for k in range(i, i + n):
                        exact[k] = True
        by_len: dict = {}
        for p in self._phrases:
            by_len.setdefault(len(p), []).append(p)
        for n in (4, 3, 2):
            for i in range(start, len(tokens) - n + 1):
                window = tuple(tokens[i:i + n])
                if any(exact[i:i + n]):
                    continue
                best = None
                for p in by_len.get(n, ()):
                    diff = [k for k in range(n) if p[k] != window[k]]
                    if len(diff) != 1:
                        continue
                    a, b = window[diff[0]], p[diff[0]]
                    if (a in FUNCTION_WORDS and b in FUNCTION_WORDS) or similarity(a, b) >= 0.75:
                        score = similarity(a, b)
                        if best is None or score > best[0]:
                            best = (score, diff[0], b)
                if best is not None:
                    k = i + best[1]
                    fixes.append((tokens[k], best[2]))
                    tokens[k] = best[2]
                    for j in range(i, i + n):
                        exact[j] = True
        return fixes

    def _pluralize_after_all(self, tokens: List[str], start: int) -> List[Tuple[str, str]]:
        """"track all vehicle" -> "track all vehicles": the first noun after
        "all" is made plural when it is a known singular noun."""
        for k in range(start, len(tokens)):
            w = tokens[k]
            if w in self._plurals:
                return []
            if w in self._plural_of:
                tokens[k] = self._plural_of[w]
                return [(w, tokens[k])]
        return []

    def strip_wake_word(self, tokens: List[str]) -> Tuple[List[str], bool]:
        """Remove a leading wake word (1 or 2 tokens, fuzzy); report if found."""
        if not self.wake_word:
            return tokens, False
        toks = list(tokens)
        while toks and toks[0] in _FILLERS_LEADING:
            toks.pop(0)
        target = self.wake_word.replace(" ", "")
        for n in (1, 2):
            heard = "".join(toks[:n])
            if len(toks) >= n and abs(len(heard) - len(target)) <= 2 and similarity(heard, target) >= 0.7:
                return toks[n:], True
        return tokens, False

    # ----------------------------------------------------------------- main
    def normalize(self, text: str) -> Normalized:
        plain = basic_normalize(text)
        dropped: List[str] = []
        if self.first_sentence_only:
            sentences = [basic_normalize(s) for s in re.split(r"[.!?;]+", text)]
            sentences = [s for s in sentences if s]
            woke = False
            while sentences:  # skip leading sentences that are only wake word / filler
                toks, w = self.strip_wake_word(sentences[0].split())
                woke = woke or w
                if [t for t in toks if t not in _FILLERS_LEADING and t not in _FILLERS_TRAILING]:
                    break
                sentences.pop(0)
            dropped = sentences[1:]
            first = sentences[0] if sentences else ""
            tokens, w = self.strip_wake_word(first.split())
            woke = woke or w
        else:
            tokens, woke = self.strip_wake_word(plain.split())
        while tokens and tokens[0] in _FILLERS_LEADING:
            tokens.pop(0)
        while tokens and tokens[-1] in _FILLERS_TRAILING:
            tokens.pop()
        corrections: List[Tuple[str, str]] = []
        out: List[str] = []
        verb_slot = 1 if tokens and tokens[0] in ("also", "and") else 0
        for i, tok in enumerate(tokens):
            new = tok
            if i == verb_slot:
                if tok not in COMMAND_VERBS and tok not in GRAMMAR_WORDS:
                    verb, score = self._best(tok, COMMAND_VERBS)
                    if score >= self.verb_threshold:
                        new = verb
            elif i > verb_slot:
                new = self._snap(tok)
            if new != tok:
                corrections.append((tok, new))
            out.append(new)
        phrase_fixes = self._snap_phrases(out, start=verb_slot + 1)
        corrections.extend(phrase_fixes)
        # "track all the cars" == "track all cars" (canonical multi form)
        if len(out) > verb_slot + 3 and out[verb_slot + 1] == "all" and out[verb_slot + 2] == "the":
            del out[verb_slot + 2]
        if len(out) > verb_slot + 2 and out[verb_slot + 1] == "all":
            corrections.extend(self._pluralize_after_all(out, verb_slot + 2))
        return Normalized(text=" ".join(out), plain=plain, wake_word_heard=woke, corrections=corrections,
                          dropped=dropped)
