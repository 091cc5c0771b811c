"""The words a spoken command may use, for recognizer bias and correction.

The WORLD area exports ``vl_tracking_ros.data.VOCABULARY`` (colours,
categories, directions, temperatures the synthetic scenes and the tracker
know). It is imported lazily; when it is absent or unreadable the fallback
lists below are used so the voice stack works on its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, Mapping, Optional, Tuple

#: Fallback word lists (used when ``vl_tracking_ros.data.VOCABULARY`` is absent).
FALLBACK_GROUPS: Dict[str, Tuple[str, ...]] = {
    "colours": ("red", "green", "blue", "yellow", "white", "black", "orange", "purple",
                "pink", "brown", "grey", "gray", "silver", "dark", "light"),
    "categories": ("person", "people", "man", "woman", "child", "car", "truck", "bus", "van",
                   "bicycle", "bike", "motorcycle", "dog", "cat", "ball", "box", "chair",
                   "bottle", "cup", "bag", "backpack", "drone", "robot", "cone", "object"),
    "parts": ("jacket", "shirt", "hat", "coat", "helmet", "vest", "cap", "dress"),
    "directions": ("left", "right", "front", "back", "behind", "near", "far", "nearest",
                   "closest", "farthest", "leftmost", "rightmost", "middle", "center", "top",
                   "bottom", "moving", "standing", "walking", "running"),
    "temperatures": ("hot", "warm", "cold", "cool", "hottest", "warmest", "coldest"),
    "sizes": ("big", "small", "large", "tall", "short", "biggest", "smallest"),
}

#: Words of the command grammar itself.
#: Verbs a command may start with (core.commands grammar).
COMMAND_VERBS: Tuple[str, ...] = ("track", "stop", "follow", "find")
#: Other grammar words: never corrected, and "also"/"and" move the verb slot.
GRAMMAR_WORDS: Tuple[str, ...] = ("all", "every", "each", "also", "and", "add", "clear",
                                  "cancel", "reset", "halt")
COMMAND_WORDS: Tuple[str, ...] = COMMAND_VERBS + GRAMMAR_WORDS

#: Function words that are never "corrected" into vocabulary words.
FUNCTION_WORDS: FrozenSet[str] = frozenset(
    "the a an in on at of with to from by and or next near is are that who which "
    "wearing holding carrying one two three four five six seven eight nine ten "
    "first second third fourth fifth last other this those these it its side "
    "most more than over under up down please tracking".split())

#: Example commands that show the recognizer the phrasing (prompt).
PROMPT_EXAMPLES: Tuple[str, ...] = (
    "track the red car", "track all people on the left", "track the person in the blue jacket",
    "stop",
)


def _flatten(obj: object) -> Dict[str, Tuple[str, ...]]:
    """Turn VOCABULARY (mapping / dataclass / sequence of strings) into groups."""
    groups: Dict[str, Tuple[str, ...]] = {}

    def words_of(v: object) -> Tuple[str, ...]:
        if isinstance(v, str):
            return (v,)
        if isinstance(v, Mapping):  # e.g. colour name -> RGB: keep names and string values
            out: Tuple[str, ...] = tuple(str(k) for k in v if isinstance(k, str))
            for vv in v.values():
                out += words_of(vv)
            return out
        if isinstance(v, Iterable):
            out = ()
            for item in v:
                out += words_of(item)
            return out
        return ()

    if isinstance(obj, Mapping):
        for k, v in obj.items():
            groups[str(k)] = words_of(v)
    elif hasattr(obj, "__dict__") or hasattr(obj, "__dataclass_fields__"):
        for k, v in vars(obj).items():
            if not k.startswith("_"):
                groups[k] = words_of(v)
    else:
        groups["words"] = words_of(obj)
    return groups


def load_world_vocabulary() -> Optional[Dict[str, Tuple[str, ...]]]:
    """``vl_tracking_ros.data.VOCABULARY`` as word groups, or None if absent."""
    try:
        from vl_tracking_ros import data as world  # lazy: data may import heavy things
    except Exception:  # noqa: BLE001 - any import problem means "not available"
        return None
    vocab = getattr(world, "VOCABULARY", None)
    if vocab is None:
        return None
    try:
        groups = _flatten(vocab)
    except Exception:  # noqa: BLE001
        return None
    return groups or None


def _plural(w: str) -> str:
    if w.endswith(("s", "x", "ch", "sh")):
        return w + "es"
    if w.endswith("y") and len(w) > 1 and w[-2] not in "aeiou":
        return w[:-1] + "ies"
    return w + "s"


@dataclass
class CommandVocabulary:
    """Word groups for prompting and correcting the recognizer.

    groups: name -> words (lower case, single or multi-word phrases).
    source: "world" (from ``vl_tracking_ros.data.VOCABULARY``) or "fallback".
    """

    groups: Dict[str, Tuple[str, ...]] = field(default_factory=lambda: dict(FALLBACK_GROUPS))
    source: str = "fallback"

    @classmethod
    def load(cls, use_world: bool = True) -> "CommandVocabulary":
        """World vocabulary merged over the fallback lists when available."""
        groups = {k: tuple(v) for k, v in FALLBACK_GROUPS.items()}
        source = "fallback"
        world = load_world_vocabulary() if use_world else None
        if world:
            for k, words in world.items():
                groups[k] = tuple(dict.fromkeys(groups.get(k, ()) + tuple(words)))
            source = "world"
        return cls(groups=groups, source=source)

    @property
    def content_words(self) -> FrozenSet[str]:
        """Single vocabulary words (+ plurals) a mis-heard word may be snapped to."""
        out = set(COMMAND_WORDS)
        for words in self.groups.values():
            for phrase in words:
                for w in str(phrase).lower().replace("_", " ").replace("-", " ").split():
                    if w.isalpha():
                        out.add(w)
                        if len(w) > 2:
                            out.add(_plural(w))
        return frozenset(out)

    @property
    def known_words(self) -> FrozenSet[str]:
        """Every word that is accepted as heard (content + function words)."""
        return self.content_words | FUNCTION_WORDS

    def prompt(self, max_words: int = 60) -> str:
        """Initial prompt for Whisper: command examples then vocabulary words.

        Whisper conditions on the prompt as if it were preceding speech, so
        it biases both wording and style (lower case, few punctuation marks).
        max_words caps the prompt: longer prompts bias more words but cost
        decoder time and, past ~100 tokens, start to be echoed back.
        """
        words = []
        for key in ("colours", "colors", "categories", "parts", "directions", "temperatures"):
            words.extend(self.groups.get(key, ()))
        for key, vals in self.groups.items():
            if key not in ("colours", "colors", "categories", "parts", "directions", "temperatures"):
                words.extend(vals)
        seen = list(dict.fromkeys(w.lower() for w in words if isinstance(w, str)))[:max_words]
        return ". ".join(PROMPT_EXAMPLES) + ". " + ", ".join(seen) + "."
