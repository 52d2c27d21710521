"""Wrapping plain text under a hanging indent (the Diagnosis screen's evidence and steps)."""

from __future__ import annotations

from autoglm_tui.text import wrap_hanging


def test_lines_after_the_first_go_under_the_text_not_the_bullet() -> None:
    lines = wrap_hanging("check the rank's input pipeline and whether another process shares "
                         "the GPU", 40, "  2. ", "     ")
    assert lines == ["  2. check the rank's input pipeline and",
                     "     whether another process shares the",
                     "     GPU"]
    assert all(len(line) <= 40 for line in lines)


def test_a_number_keeps_its_unit() -> None:
    text = "util 38% vs their median 92% over 36 s"
    assert wrap_hanging(text, 36) == ["util 38% vs their median 92% over", "36 s"]
    assert wrap_hanging("grew 2.1G over 9 min", 18) == ["grew 2.1G over", "9 min"]
    assert wrap_hanging("scale to 3 replicas", 12) == ["scale to", "3 replicas"]
    # a number before an ordinary word may still end a line
    assert wrap_hanging("median of 4 others here", 11) == ["median of 4", "others here"]


def test_a_word_longer_than_the_width_is_not_cut_and_empty_text_is_the_bullet() -> None:
    path = "/very/long/path/to/a/checkpoint/directory/on/nvme"
    assert wrap_hanging(f"write to {path}", 20, "- ", "  ") == ["- write to", f"  {path}"]
    assert wrap_hanging("", 20, "  · ", "    ") == ["  ·"]
