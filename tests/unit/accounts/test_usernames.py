"""parlor/accounts/usernames.py: where a name is kept, and the ghost names of deleted accounts."""
import re

import pytest

from parlor.accounts.lookalikes import look_alike_key
from parlor.accounts.usernames import display_name, is_ghost, look_alike_index_key, new_ghost, reserved_key, user_key
from parlor.chat.pair_file import NAME_RE


def test_each_deleted_account_gets_a_ghost_name_of_its_own():
    ghosts = {new_ghost() for _ in range(100)}
    assert len(ghosts) == 100
    for ghost in ghosts:
        assert re.fullmatch(r"deleted-[0-9a-f]{12}", ghost) and is_ghost(ghost)
        assert NAME_RE.fullmatch(ghost) and display_name(ghost) == "deleted user"  # a chat file may name it


@pytest.mark.parametrize("name", ["alice", "deleted", "deleteduser", "undeleted-1"])
def test_a_living_name_is_shown_as_it_is(name):
    assert not is_ghost(name) and display_name(name) == name


def test_the_keys_of_a_name():
    assert (user_key("alice"), reserved_key("alice")) == ("user:alice", "reserved:alice")
    assert look_alike_index_key("\u0430lice") == look_alike_index_key("alice") == f"look-alike:{look_alike_key('alice')}"
