"""Games played through parlor/game/games.py for the tests, with the secret read from Redis."""
ADDRESS = "198.51.100.1"  # where the games' players are
NAME_RULE = "A name is 3 to 24 printable characters."  # what a refused guest name is told
BIG_BOARD = 10_000  # more numbers than MAX_GUESSES: a game there can reach the limit without a repeat


async def win(games, redis_sync, player, user=None, board=10, wrong=0):
    """Start a game and win it after `wrong` wrong guesses, each a different number (a repeat is
    not counted); the won game."""
    game_id = await games.start(player, board, user=user, address=ADDRESS)
    secret = redis_sync.hget(f"game:{game_id}", "secret")
    numbers = (str(n) for n in range(1, board + 1) if str(n) != secret)
    for _ in range(wrong):
        await games.guess(game_id, player, next(numbers), user)
    return await games.guess(game_id, player, secret, user)


async def nobody(name):
    """name_is_taken for a site with no accounts."""
    return False
