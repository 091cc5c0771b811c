"""parse_modality_list: the one parser of the CLIs' --modalities option
(vl-tracking eval, vl-tracking bench, sot_validate)."""
from vl_tracking_ros.core.types import parse_modality_list


def test_names_are_stripped_in_order_and_empty_entries_dropped():
    assert parse_modality_list("rgb, thermal") == ("rgb", "thermal")
    assert parse_modality_list(" thermal ,,rgb,") == ("thermal", "rgb")
    assert parse_modality_list(",") == ()


def test_no_text_means_the_presets_own_choice():
    assert parse_modality_list(None) is None
    assert parse_modality_list("") is None
