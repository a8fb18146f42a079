"""Reports: "Report" on each of the peer's messages (on the page and on the pushed copy, whose one
render serves both people) and "Report <name>" (in its menu) on a conversation; a report keeps a copy of the
message and the 5 before it (which outlives the message), admins see open reports newest first and
dismiss them or act (delete the message, suspend the author); the reporter is told it was received,
never what was done; reports are rate-limited and expire."""
import io
import re

import PIL.Image
import pytest

from parlor.community.reports import REPORT_TTL_S
from parlor.infra.config import Rate
from tests.helpers import Visitor, admin_visitor, close_tabs, next_frame, open_tabs, pushes, send_message, users
from tests.web.test_chat import picture

REPORT_LINK_RE = re.compile(r'<a class="report" href="(/chat/([a-z0-9-]+)/messages/(\d+)/report)">Report…</a>')


def message_ids(page: str) -> dict[str, int]:
    """The id of each message on a conversation page, by its text."""
    return {body: int(id_) for id_, body in
            re.findall(r'data-id="(\d+)" data-author="[^"]+"[^>]*>.*?<p class="body">([^<]*)</p>', page, re.S)}


async def report(visitor: Visitor, path: str, reason: str = "harassment", text: str = ""):
    return await visitor.post(path, {"reason": reason, "text": text})


@pytest.mark.gen_test(timeout=60)
async def test_report_is_on_the_peers_messages_and_its_pushed_copy_links_the_readers_view(
        http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await send_message(bob, "alice", "words of bob")
    socket = await bob.live()
    await send_message(alice, "bob", "you again")
    pushed = (await next_frame(socket))["content"]  # the one render both people get
    (href, author, message_id), = REPORT_LINK_RE.findall(pushed)
    assert author == "alice" and href == f"/chat/alice/messages/{message_id}/report"  # bob's view of it
    assert f'href="/chat/bob/messages/{message_id}/delete"' in pushed  # Delete stays alice's
    socket.close()
    form = await bob.get(href)
    assert form.code == 200 and "you again" in form.body.decode() and 'name="reason"' in form.body.decode()
    assert (await report(bob, href)).code == 200
    # On the page, rendered for its viewer: Report on the peer's messages only.
    page = (await bob.get("/chat/alice")).body.decode()
    assert [link[1] for link in REPORT_LINK_RE.findall(page)] == ["alice"]
    assert 'href="/chat/alice/report">Report alice</a>' in page
    own = message_ids(page)["words of bob"]
    assert (await bob.get(f"/chat/alice/messages/{own}/report")).code == 404  # not your own
    carol, = await users(app, http_client, base_url, "carol")
    assert (await carol.get(href)).code == 404  # nor someone else's conversation
    assert (await report(carol, href)).code == 404


@pytest.mark.gen_test(timeout=60)
async def test_a_report_keeps_the_message_and_the_five_before_it_which_outlive_its_deletion(
        http_server, http_client, base_url, app, redis_sync):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    for n in range(1, 9):
        await send_message(alice if n % 2 else bob, "bob" if n % 2 else "alice", f"line {n}")
    await send_message(alice, "bob", "the reported line")
    await send_message(bob, "alice", "after it")
    ids = message_ids((await bob.get("/chat/alice")).body.decode())
    reported = ids["the reported line"]
    answer = await report(bob, f"/chat/alice/messages/{reported}/report", "hate", "This is the third time.")
    assert answer.code == 200 and "Your report was received" in answer.body.decode()
    again = await report(bob, f"/chat/alice/messages/{reported}/report")
    assert again.code == 200 and "You reported this already" in again.body.decode()
    assert (await alice.post(f"/chat/bob/messages/{reported}/delete")).code == 303

    admin = await admin_visitor(app, http_client, base_url)
    page = (await admin.get("/admin/reports")).body.decode()
    assert "1 open report," in page and "Hateful or violent words" in page and "This is the third time." in page
    copy = re.search(r'<ol class="report-copy".*?</ol>', page, re.S).group(0)
    assert re.findall(r"line \d", copy) == ["line 4", "line 5", "line 6", "line 7", "line 8"]
    assert "the reported line" in copy and "after it" not in copy and "line 3" not in copy
    (key,) = redis_sync.keys("report:*")
    assert 0 < redis_sync.ttl(key) <= REPORT_TTL_S


@pytest.mark.gen_test(timeout=60)
async def test_an_admin_deletes_the_reported_message_or_suspends_its_author_or_dismisses(
        http_server, http_client, base_url, app):
    alice, bob, carol = await users(app, http_client, base_url, "alice", "bob", "carol")
    await send_message(alice, "bob", "rude to bob")
    await send_message(alice, "carol", "rude to carol")
    await send_message(carol, "bob", "a quarrel")
    rude_to_bob = message_ids((await bob.get("/chat/alice")).body.decode())["rude to bob"]
    assert (await report(bob, f"/chat/alice/messages/{rude_to_bob}/report")).code == 200
    rude_to_carol = message_ids((await carol.get("/chat/alice")).body.decode())["rude to carol"]
    assert (await report(carol, f"/chat/alice/messages/{rude_to_carol}/report", "spam")).code == 200
    assert (await report(bob, "/chat/carol/report", "other", "We just disagree.")).code == 200
    admin = await admin_visitor(app, http_client, base_url)
    assert '<a href="/admin/reports">3 open reports</a>' in (await admin.get("/admin")).body.decode()
    page = (await admin.get("/admin/reports")).body.decode()
    ids = re.findall(r'<article id="report-([0-9a-f]{20})"', page)
    assert len(ids) == 3 and page.index("carol</a></h2>") < page.index("Spam or advertising")  # newest first
    about_carol, carols, bobs = ids

    deleted = await admin.post(f"/admin/reports/{bobs}", {"action": "delete"})
    assert deleted.code == 200 and "The message of alice was deleted" in deleted.body.decode()
    assert "rude to bob" not in (await bob.get("/chat/alice")).body.decode()
    suspended = await admin.post(f"/admin/reports/{carols}", {"action": "suspend", "length": "0",
                                                              "reason": "Rude to everyone."})
    assert suspended.code == 200 and "alice is suspended" in suspended.body.decode()
    assert (await alice.get("/account")).code == 302  # signed out
    dismissed = await admin.post(f"/admin/reports/{about_carol}", {"action": "dismiss", "reason": "a disagreement"})
    assert dismissed.code == 200 and "No open reports." in dismissed.body.decode()
    assert (await admin.post(f"/admin/reports/{about_carol}", {"action": "dismiss"})).code == 404  # closed already
    log = (await admin.get("/admin/log")).body.decode()
    for words in ("deleted a reported message of", "suspended", "dismissed a report on", "a disagreement"):
        assert words in log
    # The reporter learns that it was received, and nothing of what was done.
    told = (await report(bob, f"/chat/alice/messages/{rude_to_bob}/report")).body.decode()
    assert "You reported this already, and it was received." in told and "deleted" not in told


@pytest.mark.gen_test(timeout=60)
async def test_a_reported_picture_is_kept_small_with_the_report(http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await send_message(alice, "bob", "", image=("p.png", "image/png", picture("PNG", (640, 480))))
    page = (await bob.get("/chat/alice")).body.decode()
    (href, _, message_id), = REPORT_LINK_RE.findall(page)
    assert (await report(bob, href, "sexual")).code == 200
    assert (await alice.post(f"/chat/bob/messages/{message_id}/delete")).code == 303
    admin = await admin_visitor(app, http_client, base_url)
    reports = (await admin.get("/admin/reports")).body.decode()
    (src,) = re.findall(r'<img src="(/admin/reports/[0-9a-f]{20}/picture)"', reports)
    copy = await admin.get(src)
    assert copy.code == 200 and copy.headers["Content-Type"] == "image/jpeg"
    assert copy.headers["Cache-Control"] == "no-store" and len(copy.body) < 64 * 1024
    assert PIL.Image.open(io.BytesIO(copy.body)).size == (320, 240)  # the thumbnail's size
    assert (await bob.get(src)).code == 404  # admins only


@pytest.mark.gen_test(timeout=60)
async def test_reports_are_rate_limited_and_a_refused_one_stores_nothing(
        http_server, http_client, base_url, app, redis_sync):
    app.safety.limits["reports"] = Rate(2, 3600)
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    for n in range(3):
        await send_message(alice, "bob", f"message {n}")
    ids = message_ids((await bob.get("/chat/alice")).body.decode())
    for n in range(2):
        assert (await report(bob, f"/chat/alice/messages/{ids[f'message {n}']}/report")).code == 200
    refused = await report(bob, f"/chat/alice/messages/{ids['message 2']}/report")
    assert refused.code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "many reports in a short time" in refused.body.decode()
    assert len(redis_sync.keys("report:*")) == 2
    bad = await report(bob, f"/chat/alice/messages/{ids['message 2']}/report", reason="because")
    assert bad.code == 400 and "Choose a reason from the list" in bad.body.decode()
    assert redis_sync.zcard("reports") == 2


@pytest.mark.gen_test(timeout=60)
async def test_only_someone_one_talked_with_can_be_reported(http_server, http_client, base_url, app, redis_sync):
    """A report about a person needs a conversation with them that holds a message (a stranger's
    report kept an empty copy, counted against the open-report cap)."""
    alice, bob, carol = await users(app, http_client, base_url, "alice", "bob", "carol")
    await app.chat.create("carol", "alice")  # a file made without a message
    for visitor, peer in ((bob, "alice"), (carol, "alice")):
        form = await visitor.get(f"/chat/{peer}/report")
        assert form.code == 404 and "only from a conversation with them" in form.body.decode()
        refused = await report(visitor, f"/chat/{peer}/report")
        assert refused.code == 404 and "only from a conversation with them" in refused.body.decode()
    assert not redis_sync.keys("report:*") and not redis_sync.keys("rate:reports:*")
    await send_message(alice, "bob", "hello bob")
    assert (await bob.get("/chat/alice/report")).code == 200
    assert (await report(bob, "/chat/alice/report")).code == 200
    assert redis_sync.zcard("reports") == 1


BADGE_RE = re.compile(r'<span id="open-reports" class="badge"( hx-swap-oob="true")?( hidden)?><span class="count">(\d+)</span>')


def badge(html: str) -> tuple[int, bool] | None:
    """The open-reports count beside the Admin link, and whether it shows (None: no badge)."""
    found = BADGE_RE.search(html)
    return (int(found.group(3)), not found.group(2)) if found else None


@pytest.mark.gen_test(timeout=60)
async def test_the_admin_link_shows_the_open_reports_on_every_page_and_live(
        http_server, http_client, base_url, app, redis_sync):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    admin = await admin_visitor(app, http_client, base_url)
    for path in ("/", "/scores", "/chat", "/account", "/admin/log"):
        assert badge((await admin.get(path)).body.decode()) == (0, False), path  # nothing waits: hidden
    assert badge((await bob.get("/")).body.decode()) is None  # not an admin
    await send_message(alice, "bob", "a rude line")
    href = REPORT_LINK_RE.search((await bob.get("/chat/alice")).body.decode()).group(1)
    tabs = await open_tabs(app, {"admin": admin, "bob": bob})

    _, pushed = await pushes(tabs, report(bob, href), {"admin": 1})
    assert badge(pushed["admin"][0]["content"]) == (1, True)
    assert pushed["admin"][0]["kind"] == "reports"
    for path in ("/", "/scores/10", "/chat"):
        assert badge((await admin.get(path)).body.decode()) == (1, True), path
    (open_report,) = (await app.reports.open_reports())[0]
    _, pushed = await pushes(tabs, admin.post(f"/admin/reports/{open_report.id}", {"action": "dismiss"}),
                             {"admin": 1})
    assert badge(pushed["admin"][0]["content"]) == (0, False)
    assert badge((await admin.get("/")).body.decode()) == (0, False)
    close_tabs(tabs)
