"""/admin/accounts: every account, newest first, a page at a time, with a search by the start of a
name; each with its standing (admin, suspended) and a link to its page. Admins only."""
import asyncio
import re

import pytest

from parlor.accounts.usernames import ACCOUNTS_BY_AGE_KEY, ACCOUNTS_BY_NAME_KEY
from parlor.community.account_list import ACCOUNTS_PAGE
from parlor.community.audit import CONSOLE
from tests.helpers import admin_visitor, users

ROW_RE = re.compile(r'<tr id="account-([a-z0-9-]+)" class="account"')


def listed(page: bytes) -> list[str]:
    return ROW_RE.findall(page.decode())


async def make_accounts(app, names):
    for name in names:
        await app.accounts.create(name, "correct horse")
        await asyncio.sleep(0.002)  # each made at a later millisecond


@pytest.mark.gen_test(timeout=60)
async def test_admins_list_accounts_newest_first_a_page_at_a_time_with_their_standing(
        http_server, http_client, base_url, app, redis_sync):
    pupils = [f"pupil-{n:02d}" for n in range(ACCOUNTS_PAGE + 10)]
    await make_accounts(app, pupils)
    admin = await admin_visitor(app, http_client, base_url)  # made last: the newest
    await app.moderation.suspend(CONSOLE, "pupil-03", "3600", "Shouting.")
    newest_first = ["boss", *reversed(pupils)]

    first = await admin.get("/admin/accounts")
    assert first.code == 200 and listed(first.body) == newest_first[:ACCOUNTS_PAGE]
    page = first.body.decode()
    assert f"{len(newest_first)} accounts, newest first" in page
    assert '<a href="/admin/users/pupil-59">pupil-59</a>' in page
    assert re.search(r'id="account-boss".*?<span class="standing admin">admin</span>', page, re.S)
    assert f'href="/admin/accounts?offset={ACCOUNTS_PAGE}" rel="next">Older' in page
    second = await admin.get(f"/admin/accounts?offset={ACCOUNTS_PAGE}")
    assert listed(second.body) == newest_first[ACCOUNTS_PAGE:]
    assert re.search(r'id="account-pupil-03".*?<span class="standing suspended">suspended</span>',
                     second.body.decode(), re.S)
    assert 'rel="next"' not in second.body.decode() and 'href="/admin/accounts?offset=0" rel="prev"' in second.body.decode()

    # The start of a name, typed in any case; the matches newest first.
    found = await admin.get("/admin/accounts?prefix=PUPIL-1")
    assert listed(found.body) == [f"pupil-{n}" for n in range(19, 9, -1)]
    assert "10 accounts starting with “pupil-1”" in found.body.decode()
    assert listed((await admin.get("/admin/accounts?prefix=zed")).body) == []

    # A deleted account leaves the list.
    await app.accounts.remove("pupil-59")
    assert "pupil-59" not in listed((await admin.get("/admin/accounts")).body)


@pytest.mark.parametrize("query, said", [
    ("prefix=a_b", "Search with the start of a username"),
    ("prefix=" + "a" * 33, "Search with the start of a username"),
    ("offset=-1", "offset must be a whole number"),
    ("offset=x", "offset must be a whole number"),
])
@pytest.mark.gen_test(timeout=30)
async def test_a_bad_search_or_offset_is_a_400_saying_why(http_server, http_client, base_url, app, query, said):
    admin = await admin_visitor(app, http_client, base_url)
    answer = await admin.get(f"/admin/accounts?{query}")
    assert answer.code == 400 and said in answer.body.decode()


@pytest.mark.gen_test(timeout=30)
async def test_accounts_made_before_the_list_was_kept_are_listed_after_a_start(
        http_server, http_client, base_url, app, redis_sync):
    await make_accounts(app, ["old-timer", "veteran"])
    redis_sync.delete(ACCOUNTS_BY_AGE_KEY, ACCOUNTS_BY_NAME_KEY)  # as an older Parlor left them
    assert await app.directory.index_all() == 2
    admin = await admin_visitor(app, http_client, base_url)
    assert listed((await admin.get("/admin/accounts")).body) == ["boss", "veteran", "old-timer"]


@pytest.mark.gen_test(timeout=30)
async def test_only_admins_see_the_list(http_server, http_client, base_url, app):
    (alice,) = await users(app, http_client, base_url, "alice")
    assert (await alice.get("/admin/accounts")).code == 404
