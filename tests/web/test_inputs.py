"""handlers/inputs.py: the checks of what a request carries, as plain functions."""
import pytest

from parlor.web.handlers.base import MAX_JSON_DEPTH
from parlor.web.handlers.inputs import nests_deeper, safe_next


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
