"""Sign-up, login, logout and sessions through HTTP against the real app and Redis."""
import argon2
import pytest
import tornado.web

from tests.helpers import Visitor

pytestmark = pytest.mark.password_hasher(factory=argon2.PasswordHasher)  # what sign-up and login run

BAD_SIGNUPS = [
    # (username, password, status, words in the message)
    ("a_b", "long enough", 400, "3 to 32 characters"),
    ("../x", "long enough", 400, "3 to 32 characters"),
    ("ü-ser", "long enough", 400, "3 to 32 characters"),
    ("x" * 33, "long enough", 400, "3 to 32 characters"),
    ("", "long enough", 400, "3 to 32 characters"),
    ("ａｄｍｉｎ", "long enough", 400, "3 to 32 characters"),  # fullwidth look-alike of "admin"
    ("\u212aelvin", "long enough", 400, "3 to 32 characters"),  # Kelvin sign lowercases to "k"
    ("eliza", "long enough", 409, "is taken"),  # the chatbot's name is reserved
    ("valid-name", "x" * 7, 400, "8 to 256 characters"),
    ("valid-name", "x" * 257, 400, "8 to 256 characters"),
]


@pytest.mark.parametrize("username,password,status,message", BAD_SIGNUPS)
@pytest.mark.gen_test
async def test_bad_signup_is_refused_with_a_message(http_server, http_client, base_url, redis_sync,
                                                     username, password, status, message):
    visitor = Visitor(http_client, base_url)
    response = await visitor.post("/signup", {"username": username, "password": password})
    assert response.code == status
    assert message in response.body.decode()
    assert '<form id="signup-form"' in response.body.decode()  # the form is shown again
    assert redis_sync.keys("user:*") == []


@pytest.mark.gen_test
async def test_signup_folds_case_and_signs_in(http_server, http_client, base_url, redis_sync):
    visitor = Visitor(http_client, base_url)
    response = await visitor.sign_up("Ab-C")
    assert response.headers["Location"] == "/"
    assert redis_sync.hget("user:ab-c", "password_hash").startswith("$argon2")
    page = await visitor.get("/")
    assert "Signed in as <strong>ab-c</strong>" in page.body.decode()


@pytest.mark.gen_test
async def test_duplicate_username_reshows_the_form(http_server, http_client, base_url):
    await Visitor(http_client, base_url).sign_up("alice")
    second = Visitor(http_client, base_url)
    response = await second.post("/signup", {"username": "ALICE", "password": "another pass"})
    assert response.code == 409
    body = response.body.decode()
    assert "The username “alice” is taken" in body
    assert 'value="ALICE"' in body


@pytest.mark.gen_test
async def test_login_messages_do_not_reveal_which_names_exist(http_server, http_client, base_url):
    await Visitor(http_client, base_url).sign_up("bob")
    visitor = Visitor(http_client, base_url)
    wrong_password = await visitor.log_in("bob", "not the password")
    unknown_user = await visitor.log_in("nobody-here", "not the password")
    assert wrong_password.code == unknown_user.code == 400
    assert "Unknown username or wrong password." in wrong_password.body.decode()
    assert "Unknown username or wrong password." in unknown_user.body.decode()
    ok = await visitor.log_in("BOB")
    assert ok.code == 303


@pytest.mark.gen_test(timeout=60)
async def test_ten_failed_logins_lock_that_name_from_that_address(http_server, http_client, base_url):
    await Visitor(http_client, base_url).sign_up("carol")
    visitor = Visitor(http_client, base_url)
    for _ in range(10):
        assert (await visitor.log_in("carol", "wrong password")).code == 400
    locked = await visitor.log_in("carol")  # even the right password, for a while
    assert locked.code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert "Too many failed logins" in locked.body.decode()
    other_name = await visitor.log_in("nobody-else", "wrong password")
    assert other_name.code == 400  # only that name is locked


@pytest.mark.gen_test
async def test_login_issues_a_new_session_and_keeps_the_guest_data(http_server, http_client, base_url,
                                                                   app, redis_sync):
    await Visitor(http_client, base_url).sign_up("dave")
    visitor = Visitor(http_client, base_url)
    await visitor.post("/login", {"username": "dave", "password": "wrong password"})
    assert "parlor_session" not in visitor.cookies  # a failed login makes no session
    # A guest with a session (as when playing a game) then logs in.
    guest_id, guest = await app.sessions.create()
    visitor.cookies["parlor_session"] = tornado.web.create_signed_value(
        app.settings["cookie_secret"], "parlor_session", guest_id).decode()
    response = await visitor.log_in("dave")
    assert response.code == 303
    new_cookie = visitor.cookies["parlor_session"]
    new_id = tornado.web.decode_signed_value(
        app.settings["cookie_secret"], "parlor_session", new_cookie).decode()
    assert new_id != guest_id
    assert redis_sync.exists(f"session:{guest_id}") == 0
    carried = redis_sync.hgetall(f"session:{new_id}")
    assert carried["user"] == "dave"
    assert carried["player"] == guest["player"]  # games are bound to the player id


@pytest.mark.gen_test
async def test_tampered_session_cookie_is_signed_out(http_server, http_client, base_url):
    visitor = Visitor(http_client, base_url)
    await visitor.sign_up("erin")
    assert "Signed in as" in (await visitor.get("/")).body.decode()
    cookie = visitor.cookies["parlor_session"]
    visitor.cookies["parlor_session"] = cookie[:-3] + ("aaa" if not cookie.endswith("aaa") else "bbb")
    page = await visitor.get("/")
    assert page.code == 200
    assert "Signed in as" not in page.body.decode()
    assert 'href="/login"' in page.body.decode()


@pytest.mark.gen_test
async def test_logout_ends_the_session(http_server, http_client, base_url, redis_sync):
    visitor = Visitor(http_client, base_url)
    await visitor.sign_up("frank")
    old_cookie = visitor.cookies["parlor_session"]
    assert len(redis_sync.keys("session:*")) == 1
    response = await visitor.post("/logout")
    assert response.code == 303
    assert redis_sync.keys("session:*") == []
    visitor.cookies["parlor_session"] = old_cookie  # replaying the old cookie gets nowhere
    assert "Signed in as" not in (await visitor.get("/")).body.decode()


@pytest.mark.gen_test
async def test_post_without_xsrf_token_is_refused(http_server, http_client, base_url, redis_sync):
    visitor = Visitor(http_client, base_url)
    response = await visitor.post("/signup", {"username": "mallory", "password": "long enough"}, xsrf=False)
    assert response.code == 403
    assert "reload the page and try again" in response.body.decode()
    assert redis_sync.keys("user:*") == []


@pytest.mark.gen_test
async def test_xsrf_header_from_htmx_is_accepted(http_server, http_client, base_url):
    visitor = Visitor(http_client, base_url)
    await visitor.get("/signup")
    response = await visitor.post(
        "/signup", {"username": "hx-user", "password": "long enough"}, xsrf=False,
        headers={"X-XSRFToken": visitor.cookies["_xsrf"], "HX-Request": "true"},
    )
    assert response.code == 200
    assert response.headers["HX-Redirect"] == "/"


@pytest.mark.gen_test
async def test_htmx_gets_the_fragment_and_history_restore_the_page(http_server, http_client, base_url):
    visitor = Visitor(http_client, base_url)
    fragment = await visitor.post("/signup", {"username": "no", "password": "long enough"},
                                  headers={"HX-Request": "true"})
    assert fragment.code == 400
    assert fragment.body.decode().startswith('<form id="signup-form"')
    assert "<html" not in fragment.body.decode()
    assert "HX-Request" in fragment.headers["Vary"]
    restore = await visitor.get("/signup", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.body.decode()


@pytest.mark.parametrize("target,expected", [
    ("/after", "/after"),
    ("https://evil.example/", "/"),
    ("//evil.example/", "/"),
    ("/\\evil.example", "/"),
    ("javascript:alert(1)", "/"),
    ("/\x7f/x", "/"),
    ("/a\tb", "/"),
    ("/ok?x=1&y=%2F", "/ok?x=1&y=%2F"),
    ("/é", "/"),
])
@pytest.mark.gen_test
async def test_next_only_goes_to_paths_on_this_site(http_server, http_client, base_url, target, expected):
    visitor = Visitor(http_client, base_url)
    response = await visitor.post("/signup", {"username": "nexty", "password": "long enough", "next": target})
    assert response.code == 303
    assert response.headers["Location"] == expected


@pytest.mark.gen_test
async def test_the_session_cookie_is_renewed_about_once_an_hour(http_server, http_client, base_url, app, redis_sync):
    visitor = Visitor(http_client, base_url)
    await visitor.sign_up("steady")
    session_id = tornado.web.decode_signed_value(
        app.settings["cookie_secret"], "parlor_session", visitor.cookies["parlor_session"]).decode()
    fresh = await visitor.get("/")
    assert not any("parlor_session" in c for c in fresh.headers.get_list("Set-Cookie"))
    redis_sync.hset(f"session:{session_id}", "renewed_at", "1000")  # long ago
    app.sessions.forget()  # as a process that has not read it lately sees it
    stale = await visitor.get("/")
    assert any(c.startswith("parlor_session=") for c in stale.headers.get_list("Set-Cookie"))
    assert int(redis_sync.hget(f"session:{session_id}", "renewed_at")) > 1000


@pytest.mark.gen_test
async def test_logging_in_as_someone_else_carries_nothing_over(http_server, http_client, base_url, redis_sync):
    await Visitor(http_client, base_url).sign_up("second")
    visitor = Visitor(http_client, base_url)
    await visitor.sign_up("first")
    first_sessions = redis_sync.keys("session:*")
    (first_player,) = {redis_sync.hget(k, "player") for k in first_sessions if redis_sync.hget(k, "user") == "first"}
    assert (await visitor.log_in("second")).code == 303
    players = {redis_sync.hget(k, "player") for k in redis_sync.keys("session:*") if redis_sync.hget(k, "user") == "second"}
    assert first_player not in players
    assert not any(redis_sync.hget(k, "user") == "first" for k in redis_sync.keys("session:*"))
