"""Referring expressions generated from scene attributes, with exact referents.

An expression is a set of attribute constraints (``{"category": "car",
"color": "red", "motion": "right"}``), optionally a spatial relation to an
anchor object, rendered to text through templates and synonyms. Its referent
set is computed from the scene -- every object whose attributes satisfy all
constraints -- so "the red car" refers to exactly one object only when the
scene has exactly one red car.

Attribute keys (values as stored in ``ObjectGT.attrs``):

* static: ``category, color, size (small|medium|large), texture, temperature
  (hot|warm|cold), motion (still|left|right|up|down|turning|erratic), speed
  (none|slow|fast)``;
* per frame: ``hpos`` (left|center|right: centre x in the left / middle /
  right third of the image) and ``vpos`` (top|middle|bottom), evaluated at the
  frame the command is given; ``in_view``.

Relations (``left_of, right_of, above, below``) hold when the referent's box
lies entirely on that side of the anchor's box at the command frame.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .scene import CATEGORIES, COLORS, MOTIONS, TEMPERATURES, TEXTURES

#: nouns (synonyms) per category, singular and plural
NOUNS: Dict[str, Tuple[str, ...]] = {
    "person": ("person", "pedestrian", "human"),
    "car": ("car", "vehicle"),
    "ball": ("ball",),
    "box": ("box", "crate"),
    "drone": ("drone", "quadcopter"),
    "object": ("object", "thing"),
}
PLURALS: Dict[str, str] = {"person": "people", "pedestrian": "pedestrians", "human": "humans", "car": "cars",
                           "vehicle": "vehicles", "ball": "balls", "box": "boxes", "crate": "crates",
                           "drone": "drones", "quadcopter": "quadcopters", "object": "objects", "thing": "things"}
SIZE_WORDS = {"small": ("small", "little", "tiny"), "large": ("large", "big")}
TEMPERATURE_WORDS = {"hot": ("hot", "heated"), "warm": ("warm",), "cold": ("cold", "chilled")}
TEXTURE_WORDS = {"striped": ("striped",), "checkered": ("checkered", "checked"), "dotted": ("dotted", "spotted"),
                 "plain": ("plain",)}
MOTION_PHRASES = {
    "left": ("moving left", "going left", "heading left", "moving to the left"),
    "right": ("moving right", "going right", "heading right", "moving to the right"),
    "up": ("moving up", "going up", "rising"),
    "down": ("moving down", "going down", "descending"),
    "turning": ("turning", "circling", "moving in circles"),
    "erratic": ("moving erratically", "zigzagging", "moving randomly"),
    "still": ("standing still", "not moving", "that is stationary"),
}
MOTION_PHRASES_PLURAL = dict(MOTION_PHRASES, still=("standing still", "not moving", "that are stationary"))
FAST_WORDS = ("fast", "quick", "speeding")
COLOR_CLOTHING = ("in", "wearing")
HPOS_PHRASES = {"left": ("on the left", "at the left"), "right": ("on the right", "at the right")}
VPOS_PHRASES = {"top": ("at the top", "near the top"), "bottom": ("at the bottom", "near the bottom")}
RELATION_PHRASES = {"left_of": ("left of", "to the left of"), "right_of": ("right of", "to the right of"),
                    "above": ("above",), "below": ("below", "beneath")}

#: every word list a speech recogniser or parser may want (VOICE biases ASR with it)
VOCABULARY: Dict[str, List[str]] = {
    "verbs": ["track", "track all", "follow", "stop"],
    "categories": list(CATEGORIES),
    "nouns": sorted({w for ws in NOUNS.values() for w in ws} | set(PLURALS.values())),
    "colors": list(COLORS),
    "sizes": sorted({w for ws in SIZE_WORDS.values() for w in ws}),
    "temperatures": sorted({w for ws in TEMPERATURE_WORDS.values() for w in ws}),
    "textures": sorted({w for ws in TEXTURE_WORDS.values() for w in ws}),
    "speeds": list(FAST_WORDS) + ["quickly"],
    "motions": sorted({p for ps in MOTION_PHRASES.values() for p in ps} | {p for p in MOTION_PHRASES_PLURAL["still"]}),
    "positions": sorted({p for ps in list(HPOS_PHRASES.values()) + list(VPOS_PHRASES.values()) for p in ps}),
    "relations": sorted({p for ps in RELATION_PHRASES.values() for p in ps}),
}
VOCABULARY["connectives"] = ["the", "all", "that is", "which is", "that are"] + list(COLOR_CLOTHING)
VOCABULARY["words"] = sorted({w for lst in VOCABULARY.values() for item in lst for w in item.split()})

#: keys an expression may constrain
ATTRIBUTE_KEYS = ("category", "size", "speed", "temperature", "color", "texture", "motion", "hpos", "vpos")


@dataclass
class Expression:
    """A referring expression and the objects it refers to.

    text: the expression without the verb, e.g. "the small hot drone moving
        right" (single) or "red cars" (multi; the command is "track all red cars").
    referent_ids: object ids it refers to (exactly one for single-target).
    multi: True for "track all ..." expressions.
    start_frame, end_frame: frames [start, end) during which it is the active
        command.
    attributes: the constraints used, e.g. {"category": "car", "color": "red"}.
    relation: "left_of" / "right_of" / "above" / "below" or None.
    anchor_id, anchor_attributes: the anchor object of a relation.
    """

    text: str
    referent_ids: Tuple[int, ...]
    multi: bool
    start_frame: int
    end_frame: int
    attributes: Dict[str, str] = field(default_factory=dict)
    relation: Optional[str] = None
    anchor_id: Optional[int] = None
    anchor_attributes: Dict[str, str] = field(default_factory=dict)

    @property
    def command(self) -> str:
        """The full command text ("track the red car" / "track all red cars")."""
        return ("track all " if self.multi else "track ") + self.text

    def query(self):
        """The parsed :class:`~vl_tracking_ros.core.types.TargetQuery`."""
        from ..core.types import TargetQuery
        return TargetQuery(expression=self.text, multi=self.multi)

    def to_dict(self) -> Dict[str, object]:
        return {"text": self.text, "command": self.command, "referent_ids": list(self.referent_ids),
                "multi": self.multi, "start_frame": self.start_frame, "end_frame": self.end_frame,
                "attributes": dict(self.attributes), "relation": self.relation, "anchor_id": self.anchor_id,
                "anchor_attributes": dict(self.anchor_attributes)}

    @classmethod
    def from_dict(cls, d: Dict[str, object]) -> "Expression":
        return cls(text=str(d["text"]), referent_ids=tuple(int(i) for i in d["referent_ids"]), multi=bool(d["multi"]),
                   start_frame=int(d["start_frame"]), end_frame=int(d["end_frame"]),
                   attributes=dict(d.get("attributes", {})), relation=d.get("relation"),
                   anchor_id=None if d.get("anchor_id") is None else int(d["anchor_id"]),
                   anchor_attributes=dict(d.get("anchor_attributes", {})))


# ---------------------------------------------------------------- matching
def matches(obj_attrs: Dict[str, object], constraints: Dict[str, str]) -> bool:
    """True when the object's attributes satisfy every constraint."""
    return all(str(obj_attrs.get(k)) == v for k, v in constraints.items())


def relation_holds(box_xyxy: np.ndarray, anchor_xyxy: np.ndarray, relation: str) -> bool:
    """Whether a box lies entirely on the ``relation`` side of the anchor box."""
    if relation == "left_of":
        return bool(box_xyxy[2] < anchor_xyxy[0])
    if relation == "right_of":
        return bool(box_xyxy[0] > anchor_xyxy[2])
    if relation == "above":
        return bool(box_xyxy[3] < anchor_xyxy[1])
    if relation == "below":
        return bool(box_xyxy[1] > anchor_xyxy[3])
    raise ValueError(f"unknown relation {relation!r}")


def resolve(constraints: Dict[str, str], objects: Dict[int, Dict[str, object]],
            boxes: Dict[int, np.ndarray], relation: Optional[str] = None,
            anchor_id: Optional[int] = None) -> Tuple[int, ...]:
    """Referent ids of an expression in one frame.

    objects: obj_id -> attributes at the command frame (incl. hpos / vpos /
        in_view); boxes: obj_id -> (4,) xyxy at that frame. Expressions that
    use position or a relation only refer to objects in view then.
    """
    spatial = relation is not None or "hpos" in constraints or "vpos" in constraints
    out = []
    for oid in sorted(objects):
        attrs = objects[oid]
        if spatial and not attrs.get("in_view", True):
            continue
        if not matches(attrs, constraints):
            continue
        if relation is not None:
            if oid == anchor_id or not relation_holds(boxes[oid], boxes[anchor_id], relation):
                continue
        out.append(oid)
    return tuple(out)


# ---------------------------------------------------------------- text
def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return str(options[int(rng.integers(len(options)))])


def render_text(constraints: Dict[str, str], rng: np.random.Generator, plural: bool = False,
                relation: Optional[str] = None, anchor_text: Optional[str] = None, clauses: bool = True) -> str:
    """Words for a constraint set ("the small hot drone moving right").

    clauses: allow a trailing relative clause ("... that is hot"); off for
    relation anchors, where it would be unclear which object it describes.
    """
    adjs = []
    if constraints.get("size") in SIZE_WORDS:
        adjs.append(_pick(rng, SIZE_WORDS[constraints["size"]]))
    fast_as_adj = constraints.get("speed") == "fast" and ("motion" not in constraints or rng.random() < 0.5)
    if fast_as_adj:
        adjs.append(_pick(rng, FAST_WORDS[:2]))
    if "temperature" in constraints:
        adjs.append(_pick(rng, TEMPERATURE_WORDS[constraints["temperature"]]))
    if "color" in constraints:
        adjs.append(constraints["color"])
    if "texture" in constraints:
        adjs.append(_pick(rng, TEXTURE_WORDS[constraints["texture"]]))
    noun = _pick(rng, NOUNS[constraints.get("category", "object")])
    if plural:
        noun = PLURALS[noun]
    post = []
    if "color" in constraints and constraints.get("category") == "person" and rng.random() < 0.5:
        adjs.remove(constraints["color"])                    # "the person in red"
        post.append(_pick(rng, COLOR_CLOTHING) + " " + constraints["color"])
    clause = None
    movable = [a for a in adjs if a not in FAST_WORDS]
    if movable and clauses and relation is None and rng.random() < 0.25:  # "the drone that is hot"
        adj = _pick(rng, movable)
        adjs.remove(adj)
        clause = ("that are " if plural else _pick(rng, ("that is ", "which is "))) + adj
    words = ([] if plural else ["the"]) + adjs + [noun] + post
    if "motion" in constraints:
        phrase = _pick(rng, (MOTION_PHRASES_PLURAL if plural else MOTION_PHRASES)[constraints["motion"]])
        if constraints.get("speed") == "fast" and not fast_as_adj:
            if phrase.startswith("moving"):
                phrase = phrase.replace("moving", "moving quickly", 1)
            else:
                phrase = "quickly " + phrase
        words.append(phrase)
    pos = []
    if constraints.get("vpos") in VPOS_PHRASES and constraints.get("hpos") in HPOS_PHRASES:
        pos.append(f"in the {'top' if constraints['vpos'] == 'top' else 'bottom'} {constraints['hpos']}")
    else:
        if constraints.get("hpos") in HPOS_PHRASES:
            pos.append(_pick(rng, HPOS_PHRASES[constraints["hpos"]]))
        if constraints.get("vpos") in VPOS_PHRASES:
            pos.append(_pick(rng, VPOS_PHRASES[constraints["vpos"]]))
    words += pos
    if clause is not None:
        words.append(clause)
    if relation is not None:
        words += [_pick(rng, RELATION_PHRASES[relation]), anchor_text or "the object"]
    return " ".join(words)


# ---------------------------------------------------------------- generation
def _candidate_keys(attrs: Dict[str, object]) -> List[str]:
    keys = ["color", "temperature", "motion", "texture"]
    if attrs["size"] in SIZE_WORDS:
        keys.append("size")
    if attrs.get("speed") == "fast":
        keys.append("speed")
    if attrs.get("in_view") and attrs.get("hpos") in HPOS_PHRASES and not attrs.get("hpos_ambiguous"):
        keys.append("hpos")
    if attrs.get("in_view") and attrs.get("vpos") in VPOS_PHRASES and not attrs.get("vpos_ambiguous"):
        keys.append("vpos")
    return keys


def _constraint_sets(attrs: Dict[str, object], rng: np.random.Generator, max_extra: int = 3):
    """Constraint dicts describing ``attrs``, short ones first, random order."""
    keys = _candidate_keys(attrs)
    order = [keys[int(j)] for j in rng.permutation(len(keys))]
    for n in range(0, max_extra + 1):
        combos = list(itertools.combinations(order, n))
        combos = [combos[int(j)] for j in rng.permutation(len(combos))]
        for combo in combos:
            use_category = rng.random() < 0.9 or n == 0
            c = {k: str(attrs[k]) for k in combo}
            if "texture" in c and c["texture"] == "plain" and rng.random() < 0.7:
                continue
            if use_category:
                c = dict(category=str(attrs["category"]), **c)
            if c:
                yield c


def describe_single(target_id: int, objects: Dict[int, Dict[str, object]], boxes: Dict[int, np.ndarray],
                    rng: np.random.Generator, relation_prob: float = 0.25):
    """(constraints, relation, anchor_id, anchor_constraints, text) uniquely
    naming ``target_id`` among ``objects``, or None when impossible."""
    target = objects[target_id]
    if relation_prob > 0 and rng.random() < relation_prob and target.get("in_view"):
        rel = _describe_relation(target_id, objects, boxes, rng)
        if rel is not None:
            return rel
    for c in _constraint_sets(target, rng):
        if resolve(c, objects, boxes) == (target_id,):
            if rng.random() < 0.25:              # a redundant attribute now and then (paraphrase variety)
                extra = [k for k in _candidate_keys(target) if k not in c and k not in ("hpos", "vpos")]
                if extra:
                    k = _pick(rng, extra)
                    c2 = dict(c, **{k: str(target[k])})
                    if resolve(c2, objects, boxes) == (target_id,):
                        c = c2
            return c, None, None, {}, render_text(c, rng)
    return None


def _describe_relation(target_id, objects, boxes, rng):
    target = objects[target_id]
    rels = list(RELATION_PHRASES)
    rels = [rels[int(j)] for j in rng.permutation(len(rels))]
    anchors = [a for a in objects if a != target_id and objects[a].get("in_view")]
    anchors = [anchors[int(j)] for j in rng.permutation(len(anchors))]
    for relation in rels:
        for anchor in anchors:
            if not relation_holds(boxes[target_id], boxes[anchor], relation):
                continue
            anchor_c = None
            for c in _constraint_sets(objects[anchor], rng, max_extra=2):
                # no position or motion words in the anchor: "the box left of the car
                # moving right" would leave unclear who moves
                if any(k in c for k in ("hpos", "vpos", "motion")):
                    continue
                if resolve(c, objects, boxes) == (anchor,):
                    anchor_c = c
                    break
            if anchor_c is None:
                continue
            for own in ({"category": str(target["category"])},
                        {"category": str(target["category"]), "color": str(target["color"])}):
                if resolve(own, objects, boxes, relation, anchor) == (target_id,):
                    anchor_text = render_text(anchor_c, rng, clauses=False)
                    text = render_text(own, rng, relation=relation, anchor_text=anchor_text)
                    return own, relation, anchor, anchor_c, text
    return None


def describe_multi(seed_id: int, objects: Dict[int, Dict[str, object]], boxes: Dict[int, np.ndarray],
                   rng: np.random.Generator):
    """(constraints, referent_ids, text) for a "track all ..." expression that
    includes ``seed_id``; prefers sets of two or more objects."""
    seed = objects[seed_id]
    options = []
    for keys in ([], ["color"], ["temperature"], ["motion"], ["size"], ["texture"], ["color", "motion"],
                 ["temperature", "motion"]):
        if "size" in keys and seed["size"] not in SIZE_WORDS:
            continue
        if "texture" in keys and seed["texture"] == "plain":
            continue
        c = {"category": str(seed["category"])}
        c.update({k: str(seed[k]) for k in keys})
        options.append(c)
    for k in ("color", "temperature"):
        options.append({k: str(seed[k])})
    options = [options[int(j)] for j in rng.permutation(len(options))]
    # prefer groups of 2 .. half the scene (a real "some of them" selection),
    # then any group of >= 2 that is not everything, then whatever is left
    cap = max(2, (len(objects) + 1) // 2)
    scored = []
    for rank, c in enumerate(options):
        refs = resolve(c, objects, boxes)
        n = len(refs)
        tier = 0 if 2 <= n <= cap else (1 if 2 <= n < len(objects) else 2)
        scored.append((tier, rank, c, refs))
    _, _, c, refs = min(scored, key=lambda s: (s[0], s[1]))
    return c, refs, render_text(c, rng, plural=True)


def position_words(box_xyxy: np.ndarray, width: int, height: int, margin: float = 0.04):
    """(hpos, vpos, hpos_ambiguous, vpos_ambiguous) for a box in an image.

    hpos is left / center / right by the centre's third of the width, vpos
    top / middle / bottom; *_ambiguous is True within ``margin`` (fraction of
    the image) of a third boundary, where a person might judge differently.
    """
    cx = 0.5 * (box_xyxy[0] + box_xyxy[2]) / width
    cy = 0.5 * (box_xyxy[1] + box_xyxy[3]) / height
    hpos = "left" if cx < 1 / 3 else ("right" if cx > 2 / 3 else "center")
    vpos = "top" if cy < 1 / 3 else ("bottom" if cy > 2 / 3 else "middle")
    h_amb = min(abs(cx - 1 / 3), abs(cx - 2 / 3)) < margin
    v_amb = min(abs(cy - 1 / 3), abs(cy - 2 / 3)) < margin
    return hpos, vpos, bool(h_amb), bool(v_amb)


__all__ = ["VOCABULARY", "Expression", "matches", "resolve", "relation_holds", "render_text", "describe_single",
           "describe_multi", "position_words", "ATTRIBUTE_KEYS", "MOTIONS", "TEMPERATURES", "TEXTURES"]
