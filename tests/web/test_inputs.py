"""handlers/inputs.py: the checks of what a request carries, as plain functions."""
import pytest

from parlor.web.handlers.base import MAX_JSON_DEPTH
from parlor.web.handlers.inputs import MAX_WHOLE_NUMBER, nests_deeper, safe_next, whole_number


@pytest.mark.parametrize("text, deeper", [  # MAX_JSON_DEPTH is 8
    ("", False),
    ('{"to": "bob", "body": "hi"}', False),
    ("[" * 8, False),
    ("[" * 8 + "]" * 8 + "[]", False),  # at the limit, with more brackets than it in all
    ("[" * 9, True),
    ("[[[[[]]]]][[[[]]]]", False),  # five deep, nine brackets in all
    ("[]" * 9, False),  # a closing bracket lowers the depth
    ("[[[[[]" + "[" * 5, True),  # five, down one, then five more: nine
    ("{{{{{}" + "{" * 5, True),
    ('["", ' + "[" * 9, True),  # an empty string ends at its second quote
    ('["\\\\", ' + "[" * 9, True),  # an escaped backslash escapes nothing after it
    ('["\\"[[[[[[[[[[", ' + "[" * 7, False),  # an escaped quote stays inside the string
    ("XXXXX[[[[[XXXXX" + "]" * 5 + "[]" * 4, False),  # letters neither open nor close a bracket
    ("XXXXX" + "[" * 9, True),
])
def test_only_brackets_outside_strings_nest(text, deeper):
    assert nests_deeper(text, MAX_JSON_DEPTH) is deeper


@pytest.mark.parametrize("target", ["/", "/games/abc", "/chat/bob?after=12&x=%2F", "/a" + "b" * 1998])
def test_a_path_on_this_site_is_a_place_to_go(target):
    assert safe_next(target) == target


@pytest.mark.parametrize("target", [
    None, "", "//evil.example/", "/\\evil.example", "https://evil.example/", "games", "/a b", "/\u202e",
    "/a" + "b" * 1999,  # 2,001 characters
])
def test_anything_else_goes_to_the_default(target):
    assert safe_next(target) == "/" and safe_next(target, default="/account") == "/account"


@pytest.mark.parametrize("raw,low,high,expected", [
    ("7", 0, 10, 7), ("0", 0, 10, 0), ("010", 0, 10, 10), ("10", 0, 10, 10), ("11", 0, 10, None), ("0", 1, 10, None),
    (str(MAX_WHOLE_NUMBER), 0, MAX_WHOLE_NUMBER, MAX_WHOLE_NUMBER),
    (str(MAX_WHOLE_NUMBER + 1), 0, MAX_WHOLE_NUMBER, None),
    ("0" * 20 + "1", 0, 10, None),  # more digits than any number of ours, even as leading zeros
    # int() takes every one of these; none is written in the digits 0-9 alone.
    *[(raw, 0, 10, None) for raw in ("٣", "²", "３", "+3", "-3", " 3", "3 ", "3_0", "0x3", "3.0", "", None)],
])
def test_a_whole_number_is_ascii_digits_within_its_bounds(raw, low, high, expected):
    assert whole_number(raw, low, high) == expected


def test_a_whole_number_is_from_0_to_the_largest_unless_told():
    assert whole_number("0") == 0 and whole_number(str(MAX_WHOLE_NUMBER)) == MAX_WHOLE_NUMBER
