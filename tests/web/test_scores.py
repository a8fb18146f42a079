"""Boards through HTTP: the scraping contract (fragment, JSON, JSONP), caching, live pushes."""
import asyncio
import json
from urllib.parse import quote

import pytest
from bs4 import BeautifulSoup

from tests.helpers import Visitor, next_frame, play_to_win, start_game


async def win_as_guest(http_client, base_url, name, board=10):
    guest = Visitor(http_client, base_url)
    game_id = await start_game(guest, board)
    await play_to_win(guest, game_id, board)
    assert (await guest.post(f"/games/{game_id}/name", {"name": name})).code == 303
    return guest


@pytest.mark.gen_test(timeout=30)
async def test_a_scraper_reads_the_same_rows_from_the_fragment_and_the_json(http_server, http_client, base_url):
    await Visitor(http_client, base_url).sign_up("member")
    for name in ("Ann & Bo", "Zoë", "third"):
        await win_as_guest(http_client, base_url, name)
    member = Visitor(http_client, base_url)
    await member.log_in("member")
    await play_to_win(member, await start_game(member))
    fragment = await member.get("/scores/10/fragment")
    assert fragment.headers["Content-Type"].startswith("text/html")
    soup = BeautifulSoup(fragment.body, "html.parser")
    (board,) = soup.find_all("ol", class_="leaderboard")
    assert fragment.body.decode().startswith("<ol") and not soup.find("html")
    scraped = [{"rank": int(li["data-rank"]), "name": li["data-name"], "guest": li["data-guest"] == "true",
                "guesses": int(li["data-guesses"]), "finished_at": li.find("time")["datetime"]}
               for li in board.find_all("li", class_="entry")]
    as_json = json.loads((await member.get("/scores/10.json")).body)
    assert scraped == [{k: e[k] for k in ("rank", "name", "guest", "guesses", "finished_at")}
                       for e in as_json["entries"]]
    assert {e["name"] for e in as_json["entries"]} == {"Ann & Bo", "Zoë", "third", "member"}
    assert [e["guest"] for e in as_json["entries"] if e["name"] == "member"] == [False]


@pytest.mark.parametrize("callback", ["alert(1);x", "a b", "x" * 65, "", "a..b", "1abc", "</script>"])
@pytest.mark.gen_test
async def test_bad_jsonp_callbacks_are_refused(http_server, http_client, base_url, callback):
    response = await Visitor(http_client, base_url).get(f"/scores/10.json?callback={quote(callback)}")
    assert response.code == 400
    assert json.loads(response.body)["error"].startswith("callback must be")


@pytest.mark.gen_test
async def test_jsonp_wraps_the_json_safely(http_server, http_client, base_url):
    await win_as_guest(http_client, base_url, "Zoë")
    response = await Visitor(http_client, base_url).get("/scores/10.json?callback=app.onScores")
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("application/javascript")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    body = response.body.decode()
    assert body.startswith("/**/ typeof app.onScores === 'function' && app.onScores({")
    assert body.endswith("});")
    assert body.isascii() and "Zo\\u00eb" in body  # so U+2028/2029 can never break the script


def test_board_json_escapes_line_separators_and_markup():
    from handlers.scores import board_json
    from parlor.scores import Entry, Page

    entry = Entry(1, "g:x", "a\u2028b\u2029</script>", True, 3, 0, 0)
    text = board_json(Page(10, 1, 0, 1, 0, [entry]))
    assert "\u2028" not in text and "\\u2028" in text and "\\u2029" in text
    assert "</script>" not in text
    assert json.loads(text)["entries"][0]["name"] == "a\u2028b\u2029</script>"


@pytest.mark.gen_test
async def test_etag_and_304_follow_the_board_version(http_server, http_client, base_url):
    visitor = Visitor(http_client, base_url)
    for path in ("/scores/10/fragment", "/scores/10.json"):
        first = await visitor.get(path)
        etag = first.headers["ETag"]
        assert "Last-Modified" in first.headers
        again = await visitor.get(path, headers={"If-None-Match": etag})
        assert again.code == 304 and again.body == b""
    await win_as_guest(http_client, base_url, "changer")
    changed = await visitor.get("/scores/10/fragment", headers={"If-None-Match": etag})
    assert changed.code == 200 and "changer" in changed.body.decode()


@pytest.mark.parametrize("path", ["/scores/7", "/scores/7/fragment", "/scores/7.json", "/scores/99999999999.json"])
@pytest.mark.gen_test
async def test_an_unknown_board_is_404(http_server, http_client, base_url, path):
    response = await Visitor(http_client, base_url).get(path)
    assert response.code == 404
    assert "no such board" in response.body.decode()


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "offset=-1", "limit=١٠"])
@pytest.mark.gen_test
async def test_bad_paging_is_400(http_server, http_client, base_url, query):
    name, value = query.split("=")
    response = await Visitor(http_client, base_url).get(f"/scores/10.json?{name}={quote(value)}")
    assert response.code == 400 and "must be a whole number" in json.loads(response.body)["error"]


@pytest.mark.gen_test(timeout=30)
async def test_around_me_and_around_a_name(http_server, http_client, base_url):
    guest = await win_as_guest(http_client, base_url, "findme")
    page = (await guest.get("/scores/10?around=me")).body.decode()
    assert 'class="entry me"' in page and 'data-name="findme"' in page
    await Visitor(http_client, base_url).sign_up("named")
    named = Visitor(http_client, base_url)
    await named.log_in("named")
    await play_to_win(named, await start_game(named))
    assert 'data-name="named"' in (await guest.get("/scores/10?around=Named")).body.decode()
    assert (await guest.get("/scores/10?around=nobody")).code == 404
    assert (await Visitor(http_client, base_url).get("/scores/10?around=me")).code == 404


@pytest.mark.gen_test(timeout=30)
async def test_a_new_score_is_pushed_at_once_to_pages_showing_that_board(http_server, http_client, base_url, app):
    watcher = Visitor(http_client, base_url)
    on_board_10 = await watcher.live(query="?boards=10,25")
    on_board_100 = await watcher.live(query="?boards=100")
    await asyncio.sleep(0.1)
    await win_as_guest(http_client, base_url, "pushed")
    message = (await next_frame(on_board_10))["content"]
    assert message.startswith('<ol id="board-10"') and 'hx-swap-oob="true"' in message
    assert 'data-name="pushed"' in message
    app.hub.send_public('<p id="marker"></p>')  # the other page's next message is not a board
    message = (await next_frame(on_board_100))["content"]
    assert message == '<p id="marker"></p>'
    on_board_10.close()
    on_board_100.close()


@pytest.mark.parametrize("query", ["?boards=7", "?boards=abc", "?boards=10,x"])
@pytest.mark.gen_test
async def test_live_refuses_unknown_boards(http_server, http_client, base_url, query):
    import tornado.httpclient

    with pytest.raises(tornado.httpclient.HTTPClientError) as refused:
        await Visitor(http_client, base_url).live(query=query)
    assert refused.value.code == 400


@pytest.mark.gen_test
async def test_the_cached_fragment_costs_no_redis_round_trip(http_server, http_client, base_url, app, redis_sync):
    visitor = Visitor(http_client, base_url)
    for _ in range(50):  # until the listener has subscribed and the view is cached
        await visitor.get("/scores/25/fragment")
        if app.listener.subscribed:
            break
        await asyncio.sleep(0.02)
    await visitor.get("/scores/25/fragment")
    before = redis_sync.info("stats")["total_commands_processed"]
    for _ in range(20):
        assert (await visitor.get("/scores/25/fragment")).code == 200
    after = redis_sync.info("stats")["total_commands_processed"]
    assert after - before <= 3  # the INFO call itself, and the odd presence tick
