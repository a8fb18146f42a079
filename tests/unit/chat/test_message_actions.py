"""parlor/chat/message_actions.py's rules, alone: the text an edit or a send keeps, the edit window,
and the quote of a reply."""
import time

import pytest

from parlor.chat.message_actions import EDIT_WINDOW_S, MAX_MESSAGE_CHARS, REACTIONS, checked_text, editable, quote_of
from parlor.chat.pair_file import Message
from parlor.chat.pair_files import PairFiles
from parlor.refusals import Refused


def text(age_s: float, kind: str = "text", deleted: bool = False) -> Message:
    now_ms = int(time.time() * 1000)
    return Message(1, "alice", kind, "words", now_ms - int(age_s * 1000), deleted_ms=now_ms if deleted else None)


@pytest.mark.parametrize("body, kept", [("  hi  ", "hi"), ("a\nb", "a\nb"), ("x" * MAX_MESSAGE_CHARS, "x" * MAX_MESSAGE_CHARS)])
def test_the_text_kept_is_trimmed_and_within_the_limit(body, kept):
    assert checked_text(body) == kept


@pytest.mark.parametrize("body", ["", "  \n\t", None, "x" * (MAX_MESSAGE_CHARS + 1)])
def test_an_empty_or_too_long_text_is_refused(body):
    with pytest.raises(Refused) as refused:
        checked_text(body)
    assert refused.value.kind == "invalid"


def test_a_picture_may_come_without_text():
    assert checked_text("", picture=True) == ""


def test_the_edit_window_is_24_hours_for_a_text_not_deleted():
    assert EDIT_WINDOW_S == 24 * 3600 and len(REACTIONS) >= 6
    assert editable(text(0)) and editable(text(EDIT_WINDOW_S - 5))
    assert not editable(text(EDIT_WINDOW_S + 5))
    assert not editable(text(0, kind="image")) and not editable(text(0, deleted=True))


@pytest.mark.gen_test
async def test_a_reply_quotes_only_a_message_still_there(tmp_path):
    logs = PairFiles(tmp_path)
    async with logs.conversation("alice", "bob", create=True) as conversation:
        message, _, _ = await conversation.add("alice", "the original", "client-id-1", None)
        assert await quote_of(conversation, None) is None
        assert (await quote_of(conversation, message.id)).snippet == "the original"
        await conversation.erase(message.id, "alice")
        for gone in (message.id, 999):
            with pytest.raises(Refused) as refused:
                await quote_of(conversation, gone)
            assert refused.value.kind == "not_found"
    with pytest.raises(Refused):
        await quote_of(None, 1)  # no conversation yet
    await logs.close_all()
