"""Baseline table formatting: 'never' for infinite latency medians, '–' for not applicable."""
from vl_tracking_ros.eval.baseline_table import COLUMNS, markdown_table


def test_markdown_table_cells():
    report = {"suite": "switch", "tracker": "x", "per_clip": [{}, {}], "AUC": 0.5, "PRE": 0.75, "NPRE": 0.25,
              "switch_latency_median": None, "switch_events": 3, "reloc_time_median": None, "reloc_events": 0,
              "fps": 12.3}
    lines = markdown_table([report]).splitlines()
    assert len(lines) == 3
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    assert len(cells) == 3 + len(COLUMNS)
    by_header = dict(zip(["suite", "tracker", "clips"] + [c[0] for c in COLUMNS], cells))
    assert by_header["clips"] == "2" and by_header["AUC"] == "0.500" and by_header["HOTA"] == "–"
    assert by_header["switch lat. (frames)"] == "never" and by_header["reloc. (frames)"] == "–"
