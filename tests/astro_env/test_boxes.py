"""The one box scanner (`astro_env.boxes`), by hand, and the callers that use it."""

from __future__ import annotations

from astro_env.boxes import scan_boxes
from astro_env.countdown import extract_boxed
from search.verbalize import last_boxed, unbox


def test_nested_braces_bare_form_and_positions():
    text = r"a \boxed{\frac{1}{2}} b \fbox{3} c \boxed 7."
    found = scan_boxes(text)
    assert found.contents == (r"\frac{1}{2}", "3", "7") and not found.truncated
    first = found.boxes[0]
    assert text[first.start:first.end] == r"\boxed{\frac{1}{2}}" and text[first.inner_start:first.inner_end] == r"\frac{1}{2}"
    assert [b.braced for b in found.boxes] == [True, True, False]


def test_an_unclosed_box_truncates_and_keeps_the_earlier_ones():
    found = scan_boxes(r"\boxed{1} then \boxed{2")
    assert found.contents == ("1",) and found.truncated


def test_escaped_braces_do_not_count_and_a_bare_box_without_content_is_empty():
    assert scan_boxes(r"\boxed{\{1\}}").contents == (r"\{1\}",)
    assert scan_boxes(r"$\boxed$ done").contents == ("",)
    assert scan_boxes("ends with \\boxed").truncated


def test_callers_share_the_scanner():
    text = r"x \boxed{(3*7)+5} y \boxed {8}"
    assert extract_boxed(text) == ["(3*7)+5", "8"]
    assert last_boxed(text) == "8" and unbox(text) == "x (3*7)+5 y 8"
