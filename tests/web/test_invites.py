"""Sign-up modes (--signup open|invite|closed) and invite links: an admin makes them on
/admin/invites (uses, expiry, note), sees their uses and revokes them; with --signup invite a link
is the only way in, and a used-up, expired, revoked or unknown link gets a page saying so. Closed:
only admins make accounts."""
import asyncio
import dataclasses
import re
import time

import pytest

from parlor.accounts.invites import invite_key
from parlor.infra.config import Rate
from tests.helpers import Visitor, admin_visitor

LINK_RE = re.compile(r'value="(http://[^"]+/signup\?invite=([A-Za-z0-9_-]+))"')


@pytest.fixture
def config(config, request):
    """--signup invite, or the mode a test names with parametrize(..., indirect=True)."""
    return dataclasses.replace(config, signup=getattr(request, "param", "invite"))


async def make_invite(admin: Visitor, uses: int = 1, expiry: int = 3600, note: str = "Tuesday's class") -> str:
    answer = await admin.post("/admin/invites", {"uses": str(uses), "expiry": str(expiry), "note": note})
    assert answer.code == 303, answer.body
    code = answer.headers["Location"].removeprefix("/admin/invites#invite-")
    assert LINK_RE.search((await admin.get("/admin/invites")).body.decode()).group(2) == code  # the newest first
    return code


async def sign_up_with(http_client, base_url, invite: str, name: str):
    visitor = Visitor(http_client, base_url)
    form = await visitor.get(f"/signup?invite={invite}")
    answer = await visitor.post("/signup", {"username": name, "password": "correct horse", "invite": invite})
    return form, answer, visitor


@pytest.mark.gen_test(timeout=60)
async def test_with_signup_invite_a_link_is_the_only_way_in_and_the_admin_sees_its_uses(
        http_server, http_client, base_url, app, redis_sync):
    stranger = Visitor(http_client, base_url)
    page = await stranger.get("/signup")
    assert page.code == 403 and "Sign-up here is by invitation" in page.body.decode()
    assert 'id="signup-form"' not in page.body.decode() and 'href="/signup"' not in page.body.decode()
    assert "Sign-up is by invitation" in (await stranger.get("/login")).body.decode()
    forced = await stranger.post("/signup", {"username": "gatecrasher", "password": "correct horse"})
    assert forced.code == 403 and not redis_sync.exists("user:gatecrasher")

    admin = await admin_visitor(app, http_client, base_url)
    code = await make_invite(admin, uses=2, note="Tuesday's class")
    form, answer, newbie = await sign_up_with(http_client, base_url, code, "newbie")
    assert form.code == 200 and f'name="invite" value="{code}"' in form.body.decode()
    assert answer.code == 303 and "Signed in as <strong>newbie" in (await newbie.get("/")).body.decode()
    listed = (await admin.get("/admin/invites")).body.decode()
    assert f"{base_url}/signup?invite={code}" in listed and "Tuesday&#39;s class" in listed
    assert "used 1 of 2</span> (by newbie)" in listed
    log = (await admin.get("/admin/log")).body.decode()
    assert "made an invite" in log and "2 uses" in log and f"invite {code[:6]}…" in log
    assert code not in log  # too little of it to be used


@pytest.mark.gen_test(timeout=60)
async def test_a_used_up_expired_revoked_or_unknown_invite_gets_a_page_saying_so(
        http_server, http_client, base_url, app, redis_sync):
    admin = await admin_visitor(app, http_client, base_url)
    used_up = await make_invite(admin, uses=1)
    assert (await sign_up_with(http_client, base_url, used_up, "first"))[1].code == 303
    expired = await make_invite(admin)
    redis_sync.hset(invite_key(expired), "expires_ms", int(time.time() * 1000) - 1)
    revoked = await make_invite(admin)
    assert (await admin.post(f"/admin/invites/{revoked}/revoke")).code == 200
    for code, status, words in ((used_up, 410, "used as many times as it allows"), (expired, 410, "has expired"),
                                (revoked, 410, "withdrawn by an admin"), ("x" * 22, 404, "not valid"),
                                ("<script>", 404, "not valid")):
        form, answer, _ = await sign_up_with(http_client, base_url, code, "second")
        for response in (form, answer):
            body = response.body.decode()
            assert response.code == status and words in body and 'id="signup-form"' not in body, (code, body[:300])
    assert not redis_sync.exists("user:second")
    states = re.findall(r'data-state="([a-z ]+)"', (await admin.get("/admin/invites")).body.decode())
    assert sorted(states) == ["expired", "revoked", "used up"]


@pytest.mark.gen_test(timeout=60)
async def test_two_sign_ups_cannot_both_take_an_invites_last_use(http_server, http_client, base_url, app, redis_sync):
    admin = await admin_visitor(app, http_client, base_url)
    code = await make_invite(admin, uses=1)
    answers = await asyncio.gather(*(sign_up_with(http_client, base_url, code, f"racer-{i}") for i in range(4)))
    assert sorted(answer.code for _, answer, _ in answers) == [303, 410, 410, 410]
    assert sum(redis_sync.exists(f"user:racer-{i}") for i in range(4)) == 1
    assert redis_sync.hget(invite_key(code), "used") == "1"


@pytest.mark.parametrize("uses,expiry,note,words", [
    ("0", "3600", "", "1 to 100 uses"), ("101", "3600", "", "1 to 100 uses"), ("two", "3600", "", "1 to 100"),
    ("1", "60", "", "from an hour to 30 days"), ("1", str(31 * 86400), "", "from an hour to 30 days"),
    ("1", "3600", "x" * 201, "at most 200"), ("1", "3600", "ab\u202ecd", "printable"),
])
@pytest.mark.gen_test(timeout=30)
async def test_an_invite_needs_1_to_100_uses_an_hour_to_30_days_and_a_short_note(
        http_server, http_client, base_url, app, redis_sync, uses, expiry, note, words):
    admin = await admin_visitor(app, http_client, base_url)
    answer = await admin.post("/admin/invites", {"uses": uses, "expiry": expiry, "note": note})
    assert answer.code == 400 and words in answer.body.decode()
    assert not redis_sync.exists("invites")


@pytest.mark.parametrize("config", ["closed"], indirect=True)
@pytest.mark.gen_test(timeout=60)
async def test_with_signup_closed_only_admins_make_accounts(http_server, http_client, base_url, app, redis_sync):
    stranger = Visitor(http_client, base_url)
    for answer in (await stranger.get("/signup"),
                   await stranger.post("/signup", {"username": "someone", "password": "correct horse"})):
        assert answer.code == 403 and "Accounts here are made by the admins" in answer.body.decode()
    admin = await admin_visitor(app, http_client, base_url)
    code = await make_invite(admin)  # an invite is no way in either
    assert (await sign_up_with(http_client, base_url, code, "someone"))[1].code == 403
    assert not redis_sync.exists("user:someone")
    made = await admin.post("/admin/accounts", {"username": "Pupil-1", "password": "correct horse"})
    assert made.code == 200 and "The account pupil-1 was made" in made.body.decode()
    assert (await Visitor(http_client, base_url).log_in("pupil-1")).code == 303
    taken = await admin.post("/admin/accounts", {"username": "pupil-1", "password": "correct horse"})
    assert taken.code == 409 and "is taken" in taken.body.decode()
    assert "made an account" in (await admin.get("/admin/log")).body.decode()


@pytest.mark.parametrize("config", ["open"], indirect=True)
@pytest.mark.gen_test(timeout=60)
async def test_with_signup_open_an_invite_counts_and_a_spent_one_says_so(http_server, http_client, base_url, app):
    admin = await admin_visitor(app, http_client, base_url)
    code = await make_invite(admin)
    assert (await sign_up_with(http_client, base_url, code, "invited"))[1].code == 303
    form, answer, _ = await sign_up_with(http_client, base_url, code, "late")
    assert answer.code == 410 and 'href="/signup">sign up without an invite' in form.body.decode()
    assert (await Visitor(http_client, base_url).post("/signup", {"username": "late", "password": "correct horse"})).code == 303


@pytest.mark.config(signup_limit=Rate(5, 3600))
@pytest.mark.gen_test(timeout=60)
async def test_a_class_behind_one_address_signs_up_with_one_invite_and_trying_names_still_costs(
        http_server, http_client, base_url, app, redis_sync):
    admin = await admin_visitor(app, http_client, base_url)
    code = await make_invite(admin, uses=30, note="the whole class")
    for pupil in range(12):  # more than the 5 sign-ups an hour one address may make without an invite
        _, answer, _ = await sign_up_with(http_client, base_url, code, f"pupil-{pupil}")
        assert answer.code == 303, answer.body
    assert redis_sync.hget(invite_key(code), "used") == "12"
    # A taken name costs the address a sign-up, as without an invite: 5, then the limit's 429.
    refusals = [(await sign_up_with(http_client, base_url, code, "pupil-0"))[1].code for _ in range(6)]
    assert refusals == [409] * 5 + [429]
    assert redis_sync.hget(invite_key(code), "used") == "12"
