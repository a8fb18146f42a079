"""A one-time password-reset link an admin makes for a user: shown once, valid 24 h, used up by
one new password (which ends every session of the account), replaced by a newer link."""
import re

import argon2
import pytest

from parlor.accounts.password_resets import RESET_TTL_S
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
