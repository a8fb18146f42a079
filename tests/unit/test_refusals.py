import pytest

from parlor.refusals import Kind, Refused
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
    assert set(STATUS_OF_KIND) == set(Kind)


def test_a_kind_is_a_string_its_value():
    assert Refused("not_found", "Nothing here.").kind is Kind.NOT_FOUND
    assert Kind.TOO_MANY == "too_many" and STATUS_OF_KIND["too_many"] == 429
