"""Transcript normalization, vocabulary correction and the command grammar
(pure text; no model)."""
from __future__ import annotations

import pytest

from vl_tracking_ros.voice.grammar import NotACommand, fallback_parse, parse
from vl_tracking_ros.voice.normalize import (TranscriptNormalizer, basic_normalize, number_to_words,
                                             phonetic_key, similarity)
from vl_tracking_ros.voice.vocabulary import FALLBACK_GROUPS, CommandVocabulary


@pytest.fixture(scope="module")
def norm():
    return TranscriptNormalizer(CommandVocabulary.load(), wake_word="robot")


@pytest.mark.parametrize("raw, expected", [
    ("Track the 2nd Red-Car!", "track the second red car"),
    ("TRACK ALL 3 people.", "track all three people"),
    ("track the 21 boxes", "track the twenty one boxes"),
    ("stop…", "stop"),
    ("  ", ""),
])
def test_basic_normalize(raw, expected):
    assert basic_normalize(raw) == expected


def test_number_words():
    assert [number_to_words(n) for n in (0, 7, 13, 40, 99, 150)] == [
        "zero", "seven", "thirteen", "forty", "ninety nine", "150"]


@pytest.mark.parametrize("heard, expected, corrected", [
    ("Track the red card.", "track the red car", ("card", "car")),     # near-miss snapped to the vocabulary
    ("track the blue jackit", "track the blue jacket", ("jackit", "jacket")),
    ("Truck the yellow ball.", "track the yellow ball", ("truck", "track")),  # verb slot -> command verb
    ("tracking all drones", "track all drones", ("tracking", "track")),
    ("Track all the cars moving left.", "track all cars moving left", None),  # canonical multi form
    ("track the red car. track the", "track the red car", None),         # first sentence only
    ("Okay, please track the dog please.", "track the dog", None),        # fillers
    ("track the zebra", "track the zebra", None),                         # unknown word far from vocab: kept
    ("track the car to the left on the person", "track the car to the left of the person", ("on", "of")),
    ("track the pedestrian moving light", "track the pedestrian moving right", ("light", "right")),
    ("track the box on the right", "track the box on the right", None),   # already a vocabulary phrase
    ("track all vehicle on the right", "track all vehicles on the right", ("vehicle", "vehicles")),
    ("track the red car", "track the red car", None),                     # singular after "the" is kept
    ("track the car right on the mat", "track the car right of the mat", ("on", "of")),  # never snap to "at"
])
def test_vocabulary_aware_normalization(norm, heard, expected, corrected):
    out = norm.normalize(heard)
    assert out.text == expected
    if corrected:
        assert corrected in out.corrections
    else:
        assert all(a != b for a, b in out.corrections)


@pytest.mark.parametrize("heard, text, woke", [
    ("Robot, track the red car.", "track the red car", True),
    ("Robot. Stop.", "stop", True),
    ("Hey robot!", "", True),
    ("robert track the dog", "track the dog", True),   # fuzzy wake word
    ("track the dog", "track the dog", False),
])
def test_wake_word(norm, heard, text, woke):
    out = norm.normalize(heard)
    assert (out.text, out.wake_word_heard) == (text, woke)


def test_similarity_prefers_sound_alikes():
    assert phonetic_key("card") == "kard" and phonetic_key("jacket") == phonetic_key("jakket")
    assert similarity("card", "car") > similarity("card", "red")
    assert similarity("robot", "robot") == 1.0


def test_vocabulary_uses_world_words_and_keeps_a_fallback():
    v = CommandVocabulary.load()
    assert {"red", "car", "person", "left", "hot"} <= v.content_words
    fb = CommandVocabulary.load(use_world=False)
    assert fb.source == "fallback" and set(FALLBACK_GROUPS["colours"]) <= fb.content_words
    for vocab in (v, fb):
        prompt = vocab.prompt()
        assert prompt.startswith("track the ") and prompt.endswith("stop.")
        assert len(prompt.split()) < 80  # bounded decoder cost per utterance
        for sentence in prompt.rstrip(".").split(". "):
            parse(sentence)  # every prompt example is itself a valid command


@pytest.mark.parametrize("text, canonical", [
    ("track the red car", "track the red car"),
    ("track all people on the left", "track all people on the left"),
    ("stop", "stop"),
    ("stop tracking", "stop"),
    ("follow the man", "track the man"),
])
def test_parse_accepts_commands(text, canonical):
    assert parse(text).text == canonical


@pytest.mark.parametrize("text", ["the weather is nice today", "", "track", "track all", "red car please"])
def test_parse_rejects_non_commands(text):
    with pytest.raises(NotACommand):
        parse(text)
    with pytest.raises(NotACommand):
        fallback_parse(text)


def test_fallback_agrees_with_core_parser():
    for text in ("track the red car", "track all people", "stop", "track the dog moving left"):
        assert fallback_parse(text).text == parse(text).text
        assert fallback_parse(text).queries == parse(text).queries
