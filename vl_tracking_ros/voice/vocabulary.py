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

#: Groups whose words are nouns (their plurals are vocabulary words too).
NOUN_GROUPS = ("categories", "nouns", "parts")

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
    """The WORLD area's ``VOCABULARY`` (``vl_tracking_ros.data.language`` or
    ``vl_tracking_ros.data``) as word groups, or None if absent."""
    import importlib

    for module in ("vl_tracking_ros.data.language", "vl_tracking_ros.data"):
        try:
            mod = importlib.import_module(module)  # lazy: only when a vocabulary is built
        except Exception:  # noqa: BLE001 - any import problem means "not available here"
            continue
        vocab = getattr(mod, "VOCABULARY", None)
        if vocab is None:
            continue
        try:
            groups = _flatten(vocab)
        except Exception:  # noqa: BLE001 - unexpected shape: use the fallback lists
            return None
        return groups or None
    return None


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
    #: groups the prompt is built from (empty = all); the world's own groups
    #: when it is loaded, so the fallback lists only serve correction.
    prompt_groups: Dict[str, Tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def load(cls, use_world: bool = True) -> "CommandVocabulary":
        """World vocabulary merged over the fallback lists when available."""
        groups = {k: tuple(v) for k, v in FALLBACK_GROUPS.items()}
        source = "fallback"
        world = load_world_vocabulary() if use_world else None
        prompt_groups: Dict[str, Tuple[str, ...]] = {}
        if world:
            for k, words in world.items():
                groups[k] = tuple(dict.fromkeys(tuple(words) + groups.get(k, ())))
            source = "world"
            prompt_groups = dict(world)
        return cls(groups=groups, source=source, prompt_groups=prompt_groups)

    @property
    def content_words(self) -> FrozenSet[str]:
        """Single vocabulary words (+ plurals) a mis-heard word may be snapped to."""
        out = set(COMMAND_WORDS)
        for key, words in self.groups.items():
            nouns = key in NOUN_GROUPS
            for phrase in words:
                for w in str(phrase).lower().replace("_", " ").replace("-", " ").split():
                    if w.isalpha():
                        out.add(w)
                        if nouns and len(w) > 2 and w not in ("people", "person"):
                            out.add(_plural(w))
        return frozenset(out)

    @property
    def phrases(self) -> FrozenSet[Tuple[str, ...]]:
        """Multi-word vocabulary phrases ("left of", "moving right", "at the top")."""
        out = set()
        for words in self.groups.values():
            for phrase in words:
                toks = tuple(str(phrase).lower().split())
                if len(toks) >= 2 and all(t.isalpha() for t in toks):
                    out.add(toks)
        return frozenset(out)

    @property
    def plural_of(self) -> Dict[str, str]:
        """singular noun -> its plural, for nouns whose plural is known."""
        nouns = set()
        for key in NOUN_GROUPS:
            nouns.update(str(w).lower() for w in self.groups.get(key, ()) if str(w).isalpha())
        out = {"person": "people", "man": "men", "woman": "women", "child": "children"}
        out = {k: v for k, v in out.items() if k in nouns}
        for w in nouns:
            p = _plural(w)
            if w not in out and p != w and w not in ("people",) and not w.endswith("s"):
                out[w] = p
        return out

    @property
    def known_words(self) -> FrozenSet[str]:
        """Every word that is accepted as heard (content + function words)."""
        return self.content_words | FUNCTION_WORDS

    #: group names whose words go into the prompt first (most confusable).
    PROMPT_PRIORITY = ("colors", "colours", "categories", "nouns", "sizes", "temperatures", "textures",
                       "parts", "speeds", "motions", "directions", "positions", "relations")

    def prompt(self, max_commands: int = 8) -> str:
        """Initial prompt for Whisper: example commands built from the vocabulary.

        Whisper conditions on the prompt as if it were preceding speech, so it
        biases wording *and* style; whole command sentences (not a word list,
        which makes it answer with comma-separated words) keep transcripts in
        the command form, lower case. The examples pair colours with nouns
        and add size / temperature / motion words, so the most confusable
        words appear once each. max_commands: more covers more words but
        costs decoder time per utterance (~10 tokens each).
        """
        src = self.prompt_groups or self.groups

        def group(*names: str) -> list:
            for n in names:
                if n in src and src[n]:
                    return [str(w).lower() for w in src[n]]
            return []

        colours = group("colors", "colours")
        nouns = [w for w in group("categories", "nouns") if " " not in w]
        extras = group("sizes") + group("temperatures") + group("textures")
        motions = [m for m in group("motions") + group("positions") + group("directions")]
        cmds = []
        for i in range(max(0, max_commands - 1)):
            if not colours or not nouns:
                break
            c, n = colours[i % len(colours)], nouns[i % len(nouns)]
            if i % 3 == 1 and extras:
                plural = "people" if n in ("person", "man", "woman", "child", "people") else _plural(n)
                cmds.append(f"track all {extras[i % len(extras)]} {plural}")
            elif i % 3 == 2 and motions:
                cmds.append(f"track the {c} {n} {motions[i % len(motions)]}")
            else:
                cmds.append(f"track the {c} {n}")
        cmds = cmds or list(PROMPT_EXAMPLES[:-1])
        cmds.append("stop")
        return ". ".join(cmds) + "."
