"""core.commands: grammar, unicode safety, limits, clear errors."""
import pytest

from vl_tracking_ros.core.commands import CommandError, normalize_expression, parse_command
from vl_tracking_ros.core.types import TargetQuery


@pytest.mark.parametrize("text,action,queries", [
    ("track the red car", "track", [("the red car", False)]),
    ("TRACK The Red Car.", "track", [("the red car", False)]),
    ("track all people walking left", "track", [("people walking left", True)]),
    ("track every drone", "track", [("drone", True)]),
    ("track all of the people", "track", [("the people", True)]),
    ("track the red car; track all people walking left", "track",
     [("the red car", False), ("people walking left", True)]),
    ("track the dog\ntrack all cats", "track", [("the dog", False), ("cats", True)]),
    ("track the dog; track the dog", "track", [("the dog", False)]),
    ("follow the man in black", "track", [("the man in black", False)]),
    ("please track the blue bike!", "track", [("the blue bike", False)]),
    ("stop", "stop", []),
    ("Clear", "stop", []),
    ("stop tracking", "stop", []),
    ("track the dog; stop", "stop", []),
    ("stop; track the dog", "track", [("the dog", False)]),
    ("also track the dog", "add", [("the dog", False)]),
    ("add all red balls", "add", [("red balls", True)]),
    ("track a; also track b", "track", [("a", False), ("b", False)]),
    ("  track\t\tthe   hot   engine  ", "track", [("the hot engine", False)]),
    ("track 'the red car'", "track", [("the red car", False)]),
])
def test_grammar(text, action, queries):
    parsed = parse_command(text)
    assert parsed.action == action
    assert [(q.expression, q.multi) for q in parsed.queries] == queries
    assert parsed.raw == text


def test_unicode_is_nfc_normalised_and_kept():
    decomposed = "track the cafe\u0301 sign"  # e + combining acute
    parsed = parse_command(decomposed)
    assert parsed.queries[0].expression == "the caf\u00e9 sign"
    assert parse_command("track 赤い車").queries[0].expression == "赤い車"
    assert parse_command("track the 🚗").queries[0].expression == "the 🚗"


def test_control_and_format_characters_removed():
    parsed = parse_command("track the\x00 red\x07 car\u200b\x1b[31m")
    assert parsed.queries[0].expression == "the red car[31m"
    assert parse_command("\x00\x01stop\x7f").action == "stop"


@pytest.mark.parametrize("text,match", [
    ("", "empty command"),
    ("   \t ", "empty command"),
    ("\x00\x01\x02", "empty command"),
    (";;;", "empty command"),
    ("x" * 10_240, r"command is 10240 characters; the limit is 512"),
    ("track " + "a" * 600, "the limit is 512"),
    ("the red car", r"no command verb in 'the red car'.*'track the red car'"),
    ("stpo", "no command verb"),
    ("track", r"'track' needs an expression"),
    ("track all", r"'track all' needs an expression"),
    ("track ...", r"needs an expression"),
    ("add", r"'add' needs an expression"),
    ("track the dog; the cat", "no command verb in 'the cat'"),
    ("; ".join(f"track thing {i}" for i in range(17)), "at most 16 targets"),
])
def test_rejected_with_clear_message(text, match):
    with pytest.raises(CommandError, match=match):
        parse_command(text)


def test_non_text_rejected():
    with pytest.raises(CommandError, match="must be text"):
        parse_command(b"track x")


def test_max_chars_configurable():
    long_cmd = "track " + "a" * 200 + "; track " + "b" * 200
    with pytest.raises(CommandError, match="the limit is 256"):
        parse_command(long_cmd, max_chars=256)
    parsed = parse_command(long_cmd, max_chars=1000)
    assert [q.expression for q in parsed.queries] == ["a" * 200, "b" * 200]
    with pytest.raises(CommandError, match="expression is 300 characters; the limit is 256"):
        parse_command("track " + "c" * 300, max_chars=1000)


def test_apply_to_active_queries():
    active = [TargetQuery("the dog")]
    assert parse_command("also track the cat").apply_to(active) == [TargetQuery("the dog"), TargetQuery("the cat")]
    assert parse_command("track the cat").apply_to(active) == [TargetQuery("the cat")]
    assert parse_command("stop").apply_to(active) == []
    assert parse_command("track all cars").texts() == ["track all cars"]


def test_normalize_expression():
    assert normalize_expression('  "The  Red\tCar?!" ') == "the red car"
    with pytest.raises(CommandError, match="empty expression"):
        normalize_expression(" ... ")
