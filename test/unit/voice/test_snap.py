"""Grammar snapping of mis-heard transcripts (pure text; no model)."""
from __future__ import annotations

import pytest

from vl_tracking_ros.voice.grammar import parse
from vl_tracking_ros.voice.snap import CommandGrammar
from vl_tracking_ros.voice.vocabulary import FALLBACK_GROUPS, CommandVocabulary


@pytest.fixture(scope="module")
def grammar():
    return CommandGrammar(CommandVocabulary.load())


@pytest.mark.parametrize("command", [
    "track the red car", "track all people on the left", "stop", "stop tracking",
    "track the yellow ball moving right", "track the car to the left of the person",
    "track all drones moving up", "track the person in red", "track the drone that is hot",
    "follow the small white drone", "track all striped boxes",
])
def test_grammatical_commands_snap_to_themselves(grammar, command):
    s = grammar.snap(command)
    assert s is not None and s.text == command and s.distance == 0.0 and not s.dropped
    parse(s.text)  # and the tracker's parser accepts every grammar output


@pytest.mark.parametrize("heard, expected, alternative", [
    # a mis-heard class word: the closest noun / adjective of the same slot
    ("track all gold objects", "track all cold objects", None),
    # two heard words standing for one grammar word
    ("track the car to the left of the poor sun", "track the car to the left of the person", None),
    # the grammar wants a singular noun after "the"
    ("track the checkered balls", "track the checkered ball", None),
    # a heard word the grammar has no place for is dropped
    ("track the one box on the right", "track the box on the right", None),
    # not the closest by spelling, but among the runner-ups the recognizer then scores
    ("track all dotted worlds", None, "track all dotted balls"),
])
def test_misheard_transcripts_snap_to_the_closest_command(grammar, heard, expected, alternative):
    s = grammar.snap(heard)
    assert s is not None and 0.0 < s.distance < 0.3
    if expected is not None:
        assert s.text == expected
    if alternative is not None:
        assert alternative in [t for t, _ in s.variants(8)]
    for text, dist in s.variants(8):
        assert dist >= s.distance - 1e-9
        parse(text)


def test_adjective_deletion_is_a_variant(grammar):
    s = grammar.snap("track the blue person at the bottom")
    assert s.text == "track the blue person at the bottom"
    assert "track the person at the bottom" in [t for t, _ in s.variants(12)]


@pytest.mark.parametrize("text", ["the weather is nice today", "can you hear me", "", "the red car",
                                  "please open the door"])
def test_no_verb_no_snap(grammar, text):
    """Speech that does not start with a command verb is never turned into a command."""
    assert grammar.snap(text) is None


@pytest.mark.parametrize("text", ["track my keys", "stop talking so loud", "track and field starts at noon"])
def test_unrelated_speech_is_far_from_every_command(grammar, text):
    s = grammar.snap(text)
    assert s is None or s.distance > 0.3


def test_grammar_from_fallback_vocabulary():
    """Without the world's vocabulary the fallback word lists make the grammar."""
    g = CommandGrammar(CommandVocabulary(groups=dict(FALLBACK_GROUPS)))
    assert "dog" in g.classes["@noun"] and "dogs" in g.classes["@nouns"]
    assert g.snap("track the brown dock").text == "track the brown dog"
    assert g.snap("track the person in the blue jackit").text == "track the person in the blue jacket"
