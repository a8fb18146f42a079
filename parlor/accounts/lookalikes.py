"""Look-alike names: the Unicode TR39 skeleton, so that `аlice1` (Cyrillic а) or `alice1` with an
invisible U+034F cannot pass for `alice1`.

skeleton(X) is TR39's (section 4): NFD, drop default-ignorable code points, replace every
character by its prototype from Unicode's confusables.txt, NFD again. Two names are look-alikes
when their keys are equal; a key is the skeleton of the name as usernames are compared (NFKC and
case folded), folded once more, since a prototype may be a capital (0 -> O); a name with capitals
also has the key of its skeleton before folding (a capital I passes for an l).

The data is Unicode's own, shipped in this package (parlor/accounts/unicode/, with Unicode's licence),
never fetched at run time: confusables.txt (UTS #39, 18.0.0) and the Default_Ignorable_Code_Point
lines of DerivedCoreProperties.txt (15.0.0).
"""
from __future__ import annotations

import functools
import unicodedata
from pathlib import Path

DATA = Path(__file__).resolve().parent / "unicode"  # installed with the package (setup.py)


def _code_points(field: str) -> str:
    """ "0072 006E" -> "rn"."""
    return "".join(chr(int(point, 16)) for point in field.split())


@functools.cache
def _prototypes() -> dict[str, str]:
    """confusables.txt: source character -> its prototype (one or more characters)."""
    table = {}
    with (DATA / "confusables.txt").open(encoding="utf-8-sig") as lines:
        for line in lines:
            fields = line.split("#", 1)[0].split(";")
            if len(fields) >= 2:
                table[_code_points(fields[0])] = _code_points(fields[1])
    return table


@functools.cache
def _ignorable() -> frozenset[int]:
    """The code points whose Default_Ignorable_Code_Point property is true."""
    points = set()
    with (DATA / "DefaultIgnorable.txt").open(encoding="utf-8") as lines:
        for line in lines:
            field = line.split("#", 1)[0].split(";")[0].strip()
            if field:
                low, _, high = field.partition("..")
                points.update(range(int(low, 16), int(high or low, 16) + 1))
    return frozenset(points)


def skeleton(text: str) -> str:
    """The TR39 skeleton of a string: equal skeletons look alike."""
    prototypes, ignorable = _prototypes(), _ignorable()
    decomposed = unicodedata.normalize("NFD", text)
    mapped = "".join(prototypes.get(c, c) for c in decomposed if ord(c) not in ignorable)
    return unicodedata.normalize("NFD", mapped)


def folded(name: str) -> str:
    """A name as compared with usernames: compatibility forms folded ("ａｄｍｉｎ" is "admin")."""
    return unicodedata.normalize("NFKC", name).casefold()


def look_alike_key(name: str) -> str:
    """What two names that look alike have in common (`аlice1`, `alice1\\u034f` and `alicel` all
    give the key of `alice1`)."""
    return skeleton(folded(name)).casefold()


def look_alike_keys(name: str) -> set[str]:
    """The keys a name with capitals may pass for: folded first (`АLICE1` is `alice1`), and as it
    is (a capital I looks like an l: `aIice1` is `alicel`, which folding first would miss)."""
    return {look_alike_key(name), skeleton(unicodedata.normalize("NFKC", name)).casefold()}
