"""parlor/accounts/lookalikes.py: TR39 skeletons from Unicode's own data."""
import pytest

from parlor.accounts import lookalikes
from parlor.accounts.lookalikes import look_alike_key, look_alike_keys, skeleton


@pytest.fixture(autouse=True)
def unicode_data_read_afresh():
    """Each test reads Unicode's files itself, so that each checks how they are read."""
    lookalikes._prototypes.cache_clear()
    lookalikes._ignorable.cache_clear()


@pytest.mark.parametrize("name", ["\u0430lice1", "alice1\u034f", "alicel", "ａｌｉｃｅ１", "ALICE1", "alice1\u00ad",
                                  "al\u0456ce1", "\u0251lice1"])
def test_look_alikes_of_alice1_share_its_key(name):
    assert look_alike_key("alice1") in look_alike_keys(name)


@pytest.mark.parametrize("name", ["alice2", "alice", "bob", "malice1", "al ice1"])
def test_other_names_do_not(name):
    assert look_alike_key("alice1") not in look_alike_keys(name)


def test_the_skeleton_follows_confusables_txt():
    assert skeleton("m") == "rn" and skeleton("1") == "l" and skeleton("0") == "O"  # its own examples' kind
    assert skeleton("\u0430") == "a" and skeleton("a\u200b\u034fb") == "ab"  # Cyrillic а; ignorables dropped
    assert look_alike_key("rnallory") == look_alike_key("mallory")
