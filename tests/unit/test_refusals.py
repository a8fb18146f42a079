import pytest

from parlor.accounts.accounts import HASHING_BUSY_RETRY_S, HashingBusy, UsernameTaken
from parlor.refusals import KINDS, Refused
from parlor.web.handlers.base import STATUS_OF_KIND, refusal_status


def test_a_refusal_names_a_known_kind_its_message_and_wait():
    refused = Refused("too_many", "Wait a little.", 3)
    assert (refused.kind, str(refused), refused.message, refused.retry_after) == ("too_many", "Wait a little.",
                                                                                   "Wait a little.", 3)
    with pytest.raises(ValueError):
        Refused("teapot", "A kind the web layer has no status for.")


@pytest.mark.parametrize("kind, status", [
    ("invalid", 400), ("unauthenticated", 401), ("forbidden", 403), ("not_found", 404), ("conflict", 409),
    ("gone", 410), ("too_large", 413), ("too_long", 414), ("unsupported", 415), ("too_many", 429),
    ("unavailable", 503),
])
def test_each_kind_is_answered_with_one_status(kind, status):
    assert refusal_status(Refused(kind, "why")) == status


def test_every_kind_has_a_status():
    assert set(STATUS_OF_KIND) == KINDS


def test_an_account_forms_error_is_a_refusal_of_its_kind():
    busy = HashingBusy()
    assert isinstance(busy, Refused) and busy.kind == "unavailable" and busy.retry_after == HASHING_BUSY_RETRY_S
    taken = UsernameTaken("That name is taken.")
    assert isinstance(taken, Refused) and taken.kind == "conflict" and taken.message == "That name is taken."
