"""A one-time password-reset link an admin makes for a user: shown once, valid 24 h, used up by
one new password (which ends every session and the token of the account, and is in the audit
log), replaced by a newer link; an admin's account gets one only from the server's console."""
import asyncio
import re

import argon2
import pytest

from parlor.accounts.password_resets import RESET_TTL_S
from parlor.community import console
from parlor.community.audit import CONSOLE
from tests.helpers import Visitor, admin_visitor, users

pytestmark = pytest.mark.password_hasher(factory=argon2.PasswordHasher)  # a new password, then a login

LINK_RE = re.compile(r'id="reset-link" class="token" readonly size="60"\s+value="http://[^/]+(/password-reset\?token=([^"]+))"')


async def make_link(admin: Visitor, user: str) -> tuple[str, str]:
    answer = await admin.post(f"/admin/users/{user}/reset-link")
    assert answer.code == 200
    return LINK_RE.search(answer.body.decode()).groups()


@pytest.mark.gen_test(timeout=60)
async def test_a_reset_link_sets_a_password_once_and_ends_every_session(
        http_server, http_client, base_url, app, redis_sync):
    alice, = await users(app, http_client, base_url, "alice")
    admin = await admin_visitor(app, http_client, base_url)
    replaced, _ = await make_link(admin, "alice")
    link, token = await make_link(admin, "alice")  # the newer one replaces it
    assert not LINK_RE.search((await admin.get("/admin/users/alice")).body.decode())  # shown once
    assert token not in (await admin.get("/admin/log")).body.decode()
    assert "made a password-reset link" in (await admin.get("/admin/log")).body.decode()
    assert 0 < redis_sync.ttl(redis_sync.get("password-reset-of:alice")) <= RESET_TTL_S

    stranger = Visitor(http_client, base_url)
    assert (await stranger.get(replaced)).code == 404
    form = await stranger.get(link)
    assert form.code == 200 and "A new password for <strong>alice</strong>" in form.body.decode()
    short = await stranger.post("/password-reset", {"token": token, "new": "short"})
    assert short.code == 400 and "8 to 256" in short.body.decode()
    done = await stranger.post("/password-reset", {"token": token, "new": "a brand new one"})
    assert done.code == 200 and "The password of alice is set" in done.body.decode()
    assert (await alice.get("/account")).code == 302  # her session ended
    assert (await Visitor(http_client, base_url).log_in("alice")).code == 400
    assert (await Visitor(http_client, base_url).log_in("alice", "a brand new one")).code == 303
    used = await stranger.post("/password-reset", {"token": token, "new": "and another one"})
    assert used.code == 404 and "This link cannot be used" in used.body.decode()
    assert (await stranger.get(link)).code == 404
    assert not redis_sync.keys("password-reset*")


@pytest.mark.gen_test(timeout=60)
async def test_a_link_used_six_times_at_once_sets_one_password(http_server, http_client, base_url, app):
    """The link is used up in one step before the password is set: of six tries at once, one
    gets it (all six got 200 when it was checked first and used up after the hashing)."""
    await app.accounts.create("alice", "correct horse")
    admin = await admin_visitor(app, http_client, base_url)
    _, token = await make_link(admin, "alice")
    tries = [Visitor(http_client, base_url) for _ in range(6)]
    for visitor in tries:
        await visitor.get("/login")  # an XSRF cookie each
    answers = await asyncio.gather(*(visitor.post("/password-reset", {"token": token, "new": f"password number {n}"})
                                     for n, visitor in enumerate(tries)))
    assert sorted(answer.code for answer in answers) == [200, 404, 404, 404, 404, 404]
    winner = next(n for n, answer in enumerate(answers) if answer.code == 200)
    assert (await Visitor(http_client, base_url).log_in("alice", f"password number {winner}")).code == 303


@pytest.mark.gen_test(timeout=60)
async def test_an_admins_account_gets_a_reset_link_only_from_the_console(http_server, http_client, base_url, app,
                                                                         redis_url, redis_sync):
    """On the web an admin could take a fellow admin's account over with a link: refused there
    (nothing made, nothing logged); the server's console makes one, and it works."""
    admin = await admin_visitor(app, http_client, base_url)
    await app.admins.create(CONSOLE, "other-admin", "correct horse")
    before = redis_sync.llen("audit")
    for name in ("other-admin", "boss"):  # a fellow admin, and oneself
        answer = await admin.post(f"/admin/users/{name}/reset-link")
        assert answer.code == 403 and "made only on the server" in answer.body.decode()
        assert f"parlor admin reset-link {name}" in answer.body.decode()
    assert not redis_sync.keys("password-reset*") and redis_sync.llen("audit") == before
    assert "reset-link-form" not in (await admin.get("/admin/users/other-admin")).body.decode()

    printed = await console.run(console.parser().parse_args(["reset-link", "other-admin", "--redis-url", redis_url]))
    path = re.search(r"/password-reset\?token=\S+", printed).group(0)
    done = await Visitor(http_client, base_url).post("/password-reset", {"token": path.split("=", 1)[1],
                                                                         "new": "set on the console"})
    assert done.code == 200
    assert (await Visitor(http_client, base_url).log_in("other-admin", "set on the console")).code == 303
    entries, _ = await app.audit.entries()
    assert [(e.admin, e.action, e.target) for e in entries[:2]] == [
        (CONSOLE, "password-reset link used for", "other-admin"), (CONSOLE, "made a password-reset link", "other-admin")]


@pytest.mark.gen_test(timeout=60)
async def test_using_an_admins_link_is_audited_ends_everything_and_the_owner_is_told(
        http_server, http_client, base_url, app):
    alice, = await users(app, http_client, base_url, "alice")
    token = await app.accounts.new_api_token("alice")
    admin = await admin_visitor(app, http_client, base_url)
    _, link = await make_link(admin, "alice")
    intruder = Visitor(http_client, base_url, address="203.0.113.7")
    done = await intruder.post("/password-reset", {"token": link, "new": "taken over"})
    assert done.code == 200
    entry = (await app.audit.entries())[0][0]
    assert (entry.admin, entry.action, entry.target) == ("boss", "password-reset link used for", "alice")
    assert "made 20" in entry.detail and "used from 127.0.0.1" in entry.detail  # no --xheaders: the socket's address
    assert (await alice.get("/account")).code == 302  # her session ended
    assert await app.accounts.user_for_token(token) is None  # and her API token

    owner = Visitor(http_client, base_url)
    login = await owner.log_in("alice", "taken over")
    assert login.code == 303 and login.headers["Location"] == "/account#reset-notice"
    page = (await owner.get("/account")).body.decode()
    assert 'id="reset-notice"' in page and "an admin (boss) made" in page
    assert 'id="reset-notice"' in (await owner.get("/account")).body.decode()  # until she sets her own
    changed = await owner.post("/account/password", {"current": "taken over", "new": "mine again"})
    assert changed.code == 200 and 'id="reset-notice"' not in changed.body.decode()
    assert (await Visitor(http_client, base_url).log_in("alice", "mine again")).headers["Location"] == "/"
