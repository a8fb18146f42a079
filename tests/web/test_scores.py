"""Boards through HTTP: the scraping contract (fragment, JSON, JSONP), caching, live pushes."""
import asyncio
import json
from urllib.parse import quote

import pytest
from bs4 import BeautifulSoup

from parlor.game.ranking import MIN_GAMES
from tests.helpers import Visitor, next_frame, play_games, play_to_win, start_game


async def win_as_guest(http_client, base_url, name, board=10, address=None):
    """A guest (at `address`, behind proxied_url) plays enough games to be ranked and names the
    address's entry with the last one."""
    guest = Visitor(http_client, base_url, address=address)
    await play_games(guest, MIN_GAMES - 1, board)
    game_id = await start_game(guest, board)
    await play_to_win(guest, game_id, board)
    assert (await guest.post(f"/games/{game_id}/name", {"name": name})).code == 303
    return guest


@pytest.mark.gen_test(timeout=30)
async def test_a_scraper_reads_the_same_rows_from_the_fragment_and_the_json(proxied_url, http_client):
    await Visitor(http_client, proxied_url).sign_up("member")
    for i, name in enumerate(("Ann & Bo", "Zoë", "third")):
        await win_as_guest(http_client, proxied_url, name, address=f"192.0.2.{i + 1}")
    member = Visitor(http_client, proxied_url)
    await member.log_in("member")
    counts = await play_games(member, MIN_GAMES)
    fragment = await member.get("/scores/10/fragment")
    assert fragment.headers["Content-Type"].startswith("text/html")
    soup = BeautifulSoup(fragment.body, "html.parser")
    (board,) = soup.find_all("ol", class_="leaderboard")
    assert fragment.body.decode().startswith("<ol") and not soup.find("html")
    scraped = [{"rank": int(li["data-rank"]), "name": li["data-name"], "guest": li["data-guest"] == "true",
                "guesses": int(li["data-guesses"]), "finished_at": li.find("time")["datetime"],
                "average": float(li["data-average"]), "games": int(li["data-games"]),
                "forfeits": int(li["data-forfeits"])}
               for li in board.find_all("li", class_="entry")]
    as_json = json.loads((await member.get("/scores/10.json")).body)
    fields = ("rank", "name", "guest", "guesses", "finished_at", "average", "games", "forfeits")
    assert scraped == [{k: e[k] for k in fields} for e in as_json["entries"]]
    assert [li.find(class_="average").text for li in board.find_all("li")] == [
        f"{e['average']:.2f}" for e in as_json["entries"]]
    assert {e["name"] for e in as_json["entries"]} == {"Ann & Bo", "Zoë", "third", "member"}
    (mine,) = [e for e in as_json["entries"] if e["name"] == "member"]
    assert not mine["guest"] and mine["guesses"] == min(counts) and mine["games"] == MIN_GAMES
    assert mine["average"] == round(sum(counts) / MIN_GAMES, 2)
    averages = [e["average"] for e in as_json["entries"]]
    assert averages == sorted(averages)  # the rows are in the order of their averages


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
    from parlor.game.ranking import Entry, Page
    from parlor.web.views.boards import board_json

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


@pytest.mark.parametrize("path", ["/scores/7", "/scores/7/fragment", "/scores/7.json", "/scores/99999999999.json",
                                  "/scores/7/stats.json"])
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
    await play_games(named, MIN_GAMES - 1)
    assert 'data-name="named"' in (await guest.get("/scores/10?around=Named")).body.decode()
    assert (await guest.get("/scores/10?around=nobody")).code == 404
    absent = Visitor(http_client, base_url)
    await absent.sign_up("absent")  # signed in: their own entry, which is not on the board
    assert (await absent.get("/scores/10?around=me")).code == 404


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
async def test_the_cached_fragment_costs_one_version_read_and_is_never_read_or_rendered_again(
        http_server, http_client, base_url, app, redis_sync):
    visitor = Visitor(http_client, base_url)
    await visitor.get("/scores/25/fragment")  # read and rendered once, then cached

    def calls(command: str) -> int:
        return redis_sync.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0)

    before, scripts = redis_sync.info("stats")["total_commands_processed"], calls("evalsha")
    for _ in range(20):
        assert (await visitor.get("/scores/25/fragment")).code == 200
    after = redis_sync.info("stats")["total_commands_processed"]
    assert after - before <= 20 + 4  # a version read each; the INFO calls, and the odd presence tick
    assert calls("evalsha") - scripts <= 2  # the page's script never ran again (only the odd tick's)


async def win_in(visitor, redis_sync, guesses: int, board: int = 10) -> str:
    """Start a game and win it with exactly this many guesses (different wrong ones first)."""
    game_id = await start_game(visitor, board)
    secret = redis_sync.hget(f"game:{game_id}", "secret")
    wrong = [str(n) for n in range(1, board + 1) if str(n) != secret]
    for guess in wrong[:guesses - 1]:
        response = await visitor.post(f"/games/{game_id}/guesses", {"guess": guess})
        assert response.code == 303
    assert (await visitor.post(f"/games/{game_id}/guesses", {"guess": secret})).code == 303
    return game_id


async def histogram_players(http_client, base_url, redis_sync):
    """ada wins in 3, 3 and 5 guesses (a guest win in 2 before she logged in, in the same browser);
    a guest wins in 1 without naming themself; another takes 10, every number there is."""
    ada = Visitor(http_client, base_url)
    await win_in(ada, redis_sync, 2)
    await ada.sign_up("ada")
    for guesses in (3, 3, 5):
        await win_in(ada, redis_sync, guesses)
    quick, slow = Visitor(http_client, base_url), Visitor(http_client, base_url)
    await win_in(quick, redis_sync, 1)
    await win_in(slow, redis_sync, 10)
    return ada, quick


@pytest.mark.gen_test(timeout=30)
async def test_stats_json_counts_every_winning_game_and_the_viewers_own(http_server, http_client, base_url, redis_sync):
    ada, quick = await histogram_players(http_client, base_url, redis_sync)
    response = await ada.get("/scores/10/stats.json")
    assert response.code == 200 and response.headers["Content-Type"].startswith("application/json")
    assert "Access-Control-Allow-Origin" not in response.headers  # it holds the viewer's own games
    assert json.loads(response.body) == {
        "board": 10, "best_possible": 4, "games": 6, "my_games": 4,
        "histogram": [{"guesses": 1, "games": 1, "mine": 0}, {"guesses": 2, "games": 1, "mine": 1},
                      {"guesses": 3, "games": 2, "mine": 2}, {"guesses": 5, "games": 1, "mine": 1},
                      {"guesses": 10, "games": 1, "mine": 0}]}
    theirs = json.loads((await quick.get("/scores/10/stats.json")).body)
    assert [(row["guesses"], row["mine"]) for row in theirs["histogram"] if row["mine"]] == [(1, 1)]
    nobody = json.loads((await Visitor(http_client, base_url).get("/scores/1000/stats.json")).body)
    assert nobody == {"board": 1000, "best_possible": 10, "games": 0, "my_games": 0, "histogram": []}
    missing = await ada.get("/scores/11/stats.json")
    assert missing.code == 404 and json.loads(missing.body)["error"] == "There is no such board."


@pytest.mark.gen_test(timeout=30)
async def test_the_board_page_draws_the_histogram_in_svg(http_server, http_client, base_url, redis_sync):
    ada, _ = await histogram_players(http_client, base_url, redis_sync)
    page = (await ada.get("/scores/10")).body.decode()
    figure = BeautifulSoup(page, "html.parser").find("figure", id="histogram-10")
    assert figure["data-best-possible"] == "4"
    svg = figure.find("svg")
    assert svg["role"] == "img" and "6 winning games, 4 of them yours" in svg.find("desc").text
    bars = svg.find_all("g", class_="bar")
    assert [b.find("text", class_="label").text for b in bars] == [str(n) for n in range(1, 10)] + ["10+"]
    assert [int(b["data-games"]) for b in bars] == [1, 1, 2, 0, 1, 0, 0, 0, 0, 1]  # 10 guesses: in "10+"
    assert [int(b["data-mine"]) for b in bars] == [0, 1, 2, 0, 1, 0, 0, 0, 0, 0]
    heights = [float(b.find("rect", class_="all")["height"]) for b in bars]
    assert heights[2] == max(heights) and heights[0] == heights[2] / 2 and heights[3] == 0
    assert [float(b.find("rect", class_="mine")["height"]) for b in bars if b.find("rect", class_="mine")] == \
        [heights[2] / 2, heights[2], heights[2] / 2]
    best = float(svg.find("line", class_="best")["x1"])
    fourth, fifth = (bars[i].find("rect", class_="all") for i in (3, 4))
    assert float(fourth["x"]) + float(fourth["width"]) < best < float(fifth["x"])  # after the 4th bar
    assert "best possible: 4" in svg.find("text", class_="best").text
    rows = [[td.text for td in tr.find_all("td")] for tr in figure.find("table").tbody.find_all("tr")]
    assert rows == [["1", "1", "0"], ["2", "1", "1"], ["3", "2", "2"], ["5", "1", "1"], ["10", "1", "0"]]
    assert "style=" not in str(figure) and "<script" not in str(figure)  # the CSP allows neither inline
    fragment = (await ada.get("/scores/10", headers={"HX-Request": "true"})).body.decode()
    assert fragment.startswith("<ol") and "<svg" not in fragment  # the fragment stays the bare list


def test_slow_games_share_the_last_bar():
    from parlor.game.ranking import Stats
    from parlor.web.views.boards import histogram_bars

    bars = histogram_bars(Stats(1000, {10: 2, 16: 1, 900: 1}, {900: 1}))
    assert len(bars) == 16 and bars[-1].label == "16+" and (bars[-1].games, bars[-1].mine) == (2, 1)
    assert bars[9].games == 2 and sum(b.games for b in bars) == 4
