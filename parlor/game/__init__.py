"""The guessing game and its leaderboards: games, what a board ranks, the boards in Redis.
Imports accounts/ (sessions), infra/ and the ground floor."""
