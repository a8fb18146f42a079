"""parlor/chat/search.py on real pair files and a real Redis: the query a person's words make,
one conversation's matches, and the bounded search of all of a person's conversations."""
import asyncio
import sqlite3

import pytest

from parlor.chat import search as search_module
from parlor.chat.conversation_list import conversations_key
from parlor.chat.pair_files import PairFiles
from parlor.chat.search import RESULTS_PAGE, Search, fts_query
from parlor.infra.config import NO_LIMIT, Rate
from parlor.refusals import Refused
from parlor.safety import LIMITS, Safety


@pytest.fixture
def logs(tmp_path, io_loop):
    files = PairFiles(tmp_path)
    yield files
    io_loop.run_sync(files.close_all)


def make_search(logs, client, searches=NO_LIMIT):
    return Search(logs, client, Safety(client, {**dict.fromkeys(LIMITS, NO_LIMIT), "searches": searches}))


async def say(logs, client, author, peer, *bodies):
    """Messages from `author` to `peer`, and the pair at the top of both lists (as a send leaves it)."""
    async with logs.conversation(author, peer, create=True) as conversation:
        stored = [(await conversation.add(author, body, None, None))[0] for body in bodies]
    await client.zadd(conversations_key(author), {peer: stored[-1].sent_ms})
    await client.zadd(conversations_key(peer), {author: stored[-1].sent_ms})
    return stored


def words(found):
    return ["".join(text for text, _ in match.marked) for match in found.matches]


@pytest.mark.parametrize("typed,query", [
    ("coffee", '"coffee"*'),
    ("coffee tomorrow", '"coffee"* AND "tomorrow"*'),
    ('"the harbour" boat', '"the harbour" AND "boat"*'),
    ('"unclosed phrase', '"unclosed phrase"'),
    ("don't", '"don t"*'),
    ("NEAR(a b) body:x ^start a OR b", '"NEAR a"* AND "b"* AND "body x"* AND "start"* AND "a"* AND "OR"* AND "b"*'),
    ('café*', '"café"*'),
])
def test_what_a_person_types_becomes_quoted_terms_and_never_fts5_syntax(typed, query):
    assert fts_query(typed) == query


@pytest.mark.parametrize("typed,says", [
    ("", "Type a word"), ("   ", "Type a word"), (None, "Type a word"), ('"" * ^ : ()', "punctuation alone"),
    ("x" * 201, "at most 200 characters"), (" ".join("w" * 11), "at most 10 words"),
])
def test_nothing_to_look_for_or_too_much_is_refused_with_the_reason(typed, says):
    with pytest.raises(Refused, match=says) as refused:
        fts_query(typed)
    assert refused.value.kind == "invalid"


@pytest.mark.gen_test
async def test_one_conversation_finds_prefixes_and_phrases_newest_first_with_the_words_marked(logs, client):
    await say(logs, client, "alice", "bob", "Coffee tomorrow?", "the harbour boat", "boat at the harbour",
              "no drinks", "Coffeehouse or harbour?")
    search = make_search(logs, client)
    assert words(await search.conversation("bob", "alice", "coff")) == ["Coffeehouse or harbour?", "Coffee tomorrow?"]
    assert words(await search.conversation("bob", "alice", '"the harbour"')) == ["boat at the harbour", "the harbour boat"]
    found = await search.conversation("alice", "bob", "harbour boat")
    assert [m.marked for m in found.matches][0] == (("boat", True), (" at the ", False), ("harbour", True))
    assert (await search.conversation("alice", "bob", "tea")).matches == []
    assert (await search.conversation("alice", "carol", "coffee")).matches == []  # not their pair: no file opened
    assert not logs.exists("alice", "carol")


@pytest.mark.gen_test
async def test_one_conversation_pages_by_message_and_deleted_messages_are_not_found(logs, client):
    stored = await say(logs, client, "alice", "bob", *[f"note {n}" for n in range(RESULTS_PAGE + 5)])
    async with logs.conversation("alice", "bob") as conversation:
        await conversation.erase(stored[-1].id, "alice")
    search = make_search(logs, client)
    first = await search.conversation("alice", "bob", "note")
    assert words(first) == [f"note {n}" for n in range(RESULTS_PAGE + 3, 3, -1)] and first.older
    second = await search.conversation("alice", "bob", "note", before=first.older)
    assert words(second) == ["note 3", "note 2", "note 1", "note 0"] and second.older is None
    with pytest.raises(Refused):
        await search.conversation("alice", "bob", "note", before="1; DROP TABLE messages")


@pytest.mark.gen_test
async def test_all_conversations_name_the_peer_leave_out_blocked_people_and_page_across_files(logs, client):
    await say(logs, client, "carol", "dave", "picnic for carol and dave only")  # not alice's: never seen
    await say(logs, client, "alice", "bob", *[f"picnic {n} with bob" for n in range(15)])
    await say(logs, client, "mallory", "alice", "picnic with mallory")
    await say(logs, client, "alice", "erin", *[f"picnic {n} with erin" for n in range(15)])
    search = make_search(logs, client)
    await Safety(client, dict.fromkeys(LIMITS, NO_LIMIT)).block("alice", "mallory")
    first = await search.everywhere("alice", "picnic")
    assert [m.peer for m in first.matches] == ["erin"] * 15 + ["bob"] * 5
    assert (first.start, first.end, first.more, first.stopped) == (0, 2, False, False)
    second = await search.everywhere("alice", "picnic", first.start, first.end, first.older)
    assert [m.peer for m in second.matches] == ["bob"] * 10 and second.older is None
    seen = words(first) + words(second)
    assert len(set(seen)) == 30 and not any("mallory" in w or "carol" in w for w in seen)
    assert [m.peer for m in (await search.everywhere("mallory", "picnic")).matches] == ["alice"]  # only alice blocked


@pytest.mark.gen_test
async def test_all_conversations_open_at_most_a_window_of_files_and_stop_at_the_deadline(logs, client, monkeypatch):
    for n in range(7):
        await say(logs, client, "alice", f"peer-{n}", f"lantern {n}")
    monkeypatch.setattr(search_module, "SEARCH_WINDOW", 3)
    search = make_search(logs, client)
    opened = []
    real = logs.conversation

    def counting(a, b, create=False):
        opened.append(b)
        return real(a, b, create)
    monkeypatch.setattr(logs, "conversation", counting)
    first = await search.everywhere("alice", "lantern")
    assert opened == ["peer-6", "peer-5", "peer-4"] and (first.end, first.more) == (3, True)
    rest = await search.everywhere("alice", "lantern", start=first.end)
    assert [m.peer for m in rest.matches] == ["peer-3", "peer-2", "peer-1"] and rest.more
    opened.clear()
    monkeypatch.setattr(search_module, "SEARCH_DEADLINE_S", 0.0)  # time is up after the first batch
    monkeypatch.setattr(search_module, "SEARCH_CONCURRENCY", 2)
    late = await search.everywhere("alice", "lantern")
    assert opened == ["peer-6", "peer-5"] and late.end == 2 and late.stopped and late.more


@pytest.mark.gen_test
async def test_searching_all_conversations_is_rate_limited(logs, client):
    search = make_search(logs, client, searches=Rate(2, 60))
    await search.everywhere("alice", "x")
    await search.everywhere("alice", "x")
    with pytest.raises(Refused) as refused:
        await search.everywhere("alice", "x")
    assert refused.value.kind == "too_many"
