"""Accounts: unique usernames, argon2 password hashes, and login throttling, all in Redis."""
from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
from concurrent.futures import Executor

import argon2
import redis.asyncio as aioredis

from .names import folded, look_alike_key, look_alike_keys
from .safety import Refused

# ASCII only, checked before folding: no look-alike letters (Kelvin sign, fullwidth "ａｄｍｉｎ"),
# and no "_", which stays free to join two names into one chat file name.
USERNAME_RE = re.compile(r"[A-Za-z0-9-]{3,32}")
USERNAME_RULE = "A username is 3 to 32 characters: letters a–z, digits and hyphens."
RESERVED_USERNAMES = frozenset({"eliza"})  # the built-in chatbot answers to this name
# A deleted account's messages stay in its peers' conversations under a name of this form, which
# no one can sign up with; pages show it as "deleted user".
GHOST_PREFIX = "deleted-"
GHOST_ID_BYTES = 6  # 12 hex digits: a ghost name per deleted account, never reused
KNOWN_USERS_MAX = 100_000  # names exists() remembers at most (then forgets all at once)
NAME_KEPT_AFTER_LEAVING_S = 30 * 24 * 3600  # a deleted account's name is reserved this long
MIN_PASSWORD_CHARS = 8  # shorter falls to guessing
MAX_PASSWORD_CHARS = 256  # argon2 is slow on purpose; a cap stops huge inputs costing more
FAILED_LOGIN_LIMIT = 10  # attempts (all but a success) for one name from one address ...
FAILED_LOGIN_WINDOW_S = 60  # ... within this window ...
API_TOKEN_BYTES = 32  # 256 random bits; only its SHA-256 is stored
LOGIN_LOCKOUT_S = 300  # ... lock that name from that address (only) this long

# Creates the user only if the name is free (no account, not reserved after one was deleted, no
# look-alike taken): two sign-ups of one name, or of two look-alikes, race and exactly one wins.
# KEYS: user, reserved, look-alike. ARGV: the name, then the account's fields.
_CREATE_USER = """
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return 0 end
local owner = redis.call('GET', KEYS[3])
if owner and owner ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
"""

# A new password hash, for an account that still exists. KEYS: user. ARGV: the hash.
_SET_PASSWORD = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'password_hash', ARGV[1])
return 1
"""

# Deletes an account: its hash and API token go, its name (and its look-alikes) stay reserved.
# KEYS: user, reserved, look-alike. ARGV: reserved for (s), the name. Returns 0 if there was no
# such account.
_REMOVE_USER = """
local token = redis.call('HGET', KEYS[1], 'api_token_key')
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
if token then redis.call('DEL', token) end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[1])
if redis.call('GET', KEYS[3]) == ARGV[2] then redis.call('EXPIRE', KEYS[3], ARGV[1]) end
return 1
"""

# Index the look-alike key of an account made before keys were kept (a no-op for the others).
# KEYS: look-alike, user, reserved. ARGV: the name.
_INDEX_LOOK_ALIKE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('SET', KEYS[1], ARGV[1]) return 1 end
local ttl = redis.call('TTL', KEYS[3])
if ttl > 0 then redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl) return 1 end
return 0
"""


# One login attempt, counted before the password is checked, so that attempts sent all at once
# are limited too: the window starts at the first attempt; passing the limit locks for longer.
# (EXPIRE ... NX would do the first part, but it is Redis 7 and we stay within 6.2.)
_COUNT_ATTEMPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if n > tonumber(ARGV[2]) then
  if n == tonumber(ARGV[2]) + 1 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
  return -redis.call('TTL', KEYS[1])
end
return n
"""


class AccountError(ValueError):
    """A sign-up or login that cannot go ahead; str() is a message for the person."""


class UsernameTaken(AccountError):
    pass


class SignupThrottled(AccountError):
    def __init__(self, message: str, retry_after: int | None):
        super().__init__(message)
        self.retry_after = retry_after


class LoginThrottled(AccountError):
    def __init__(self, retry_after: int):
        super().__init__("Too many failed logins for this name from your address. Try again later.")
        self.retry_after = retry_after


BAD_CREDENTIALS = "Unknown username or wrong password."  # one message: no probing for names


def normalize_username(raw: str) -> str:
    """Fold a typed username to its canonical form, or raise AccountError."""
    name = (raw or "").strip()
    if not USERNAME_RE.fullmatch(name):
        raise AccountError(USERNAME_RULE)
    return name.lower()


def check_password(password: str) -> None:
    """Raise AccountError unless the password's length is within bounds."""
    if not MIN_PASSWORD_CHARS <= len(password or "") <= MAX_PASSWORD_CHARS:
        raise AccountError(
            f"A password is {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters long."
        )


def user_key(name: str) -> str:
    return f"user:{name}"


def reserved_key(name: str) -> str:
    return f"reserved:{name}"  # a deleted account's name, kept from others for a while


def look_alike_index_key(name: str) -> str:
    """Where the account whose name looks like `name` is found (TR39 skeleton; parlor/names.py)."""
    return f"look-alike:{look_alike_key(name)}"


def is_ghost(name: str) -> bool:
    """Whether a name stands for a deleted account in its peers' conversations."""
    return name.startswith(GHOST_PREFIX)


def new_ghost() -> str:
    return GHOST_PREFIX + secrets.token_hex(GHOST_ID_BYTES)


def display_name(name: str) -> str:
    """A name as pages show it: a deleted account's is "deleted user"."""
    return "deleted user" if is_ghost(name) else name


def token_key(token: str) -> str:
    """Where a token's owner is found: by the token's SHA-256, never the token itself."""
    return "api-token:" + hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    """Sign-up and login against Redis; password hashing runs in a thread pool, off the event loop."""

    def __init__(self, redis: aioredis.Redis, executor: Executor, hasher: argon2.PasswordHasher | None = None,
                 safety=None):
        self._redis = redis
        self._safety = safety  # counts sign-ups per address when given
        self._executor = executor
        self._hasher = hasher or argon2.PasswordHasher()
        self._create = redis.register_script(_CREATE_USER)
        self._count_attempt = redis.register_script(_COUNT_ATTEMPT)
        self._remove = redis.register_script(_REMOVE_USER)
        self._set_password = redis.register_script(_SET_PASSWORD)
        self._index_look_alike = redis.register_script(_INDEX_LOOK_ALIKE)
        self._known: set[str] = set()  # names of accounts found to exist (see exists)
        self._dummy_hash: str | None = None

    async def _in_pool(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def exists(self, name: str) -> bool:
        """Whether the account exists. An account ends only by leaving, which forgets it here
        (Accounts.remove, on this process; the left notice, on every other): a name once found
        is not asked of Redis again, which takes a round trip off every message sent."""
        if name in self._known:
            return True
        found = bool(await self._redis.exists(user_key(name)))
        if found:
            if len(self._known) >= KNOWN_USERS_MAX:
                self._known.clear()
            self._known.add(name)
        return found

    def forget(self, name: str | None = None) -> None:
        """`name` left (a notice from any process): ask Redis about it again. None: every name
        (the notices were not heard for a while)."""
        if name is None:
            self._known.clear()
        else:
            self._known.discard(name)

    async def is_taken(self, name: str) -> bool:
        """Whether a name belongs to an account or is reserved (what a guest may not call themself)."""
        if name in RESERVED_USERNAMES or is_ghost(name):
            return True
        return bool(await self._redis.exists(user_key(name), reserved_key(name)))

    async def look_alike(self, name: str) -> str | None:
        """The taken or reserved username that `name` looks like, or is: one whose TR39 skeleton
        is the same (impersonation: `аlice1` with a Cyrillic а, or `alice1` plus an invisible
        U+034F, next to `alice1`); None if there is none."""
        keys = look_alike_keys(name)
        reserved = next((r for r in sorted(RESERVED_USERNAMES) if look_alike_key(r) in keys), None)
        if reserved:
            return reserved
        owners = await self._redis.mget([f"look-alike:{key}" for key in sorted(keys)])
        return next((owner for owner in owners if owner), None)

    async def name_is_taken(self, name: str) -> bool:
        """Whether a guest's name is, or looks like, a taken or reserved username."""
        return await self.is_taken(folded(name)) or await self.look_alike(name) is not None

    async def index_look_alikes(self) -> int:
        """Index the look-alike keys of accounts (and reserved names) made before they were kept;
        returns how many were added. Safe to run at every start, by every process."""
        added = 0
        for pattern in (user_key("*"), reserved_key("*")):
            async for key in self._redis.scan_iter(match=pattern, count=1000):
                name = key.split(":", 1)[1]
                if USERNAME_RE.fullmatch(name):
                    added += await self._index_look_alike(
                        keys=[look_alike_index_key(name), user_key(name), reserved_key(name)], args=[name])
        return added

    async def sign_up(self, raw_name: str, password: str, address: str | None = None) -> str:
        """Create an account and return its canonical name; sign-ups are counted per address."""
        name = normalize_username(raw_name)
        check_password(password)
        if await self.is_taken(name):
            raise UsernameTaken(f"The username “{name}” is taken. Please choose another.")
        similar = await self.look_alike(name)
        if similar and similar != name:
            raise UsernameTaken(f"The username “{name}” looks too much like “{similar}”, which is taken. "
                                "Please choose another.")
        if self._safety is not None and address is not None:
            try:  # counted before hashing, so a flood of sign-ups costs no argon2 time
                await self._safety.hit("signups", address)
            except Refused as e:
                raise SignupThrottled(str(e), e.retry_after) from None
        password_hash = await self._in_pool(self._hasher.hash, password)
        created = await self._create(
            keys=[user_key(name), reserved_key(name), look_alike_index_key(name)],
            args=[name, "password_hash", password_hash, "created_at", str(int(time.time()))],
        )
        if not created:  # someone took it while we were hashing
            raise UsernameTaken(f"The username “{name}” is taken. Please choose another.")
        return name

    async def log_in(self, raw_name: str, password: str, address: str) -> str:
        """Check a password and return the canonical name; failures are counted per name and address."""
        try:
            name = normalize_username(raw_name)
        except AccountError:
            raise AccountError(BAD_CREDENTIALS) from None
        attempts_key = f"login-attempts:{name}:{address}"
        attempt = await self._count_attempt(
            keys=[attempts_key], args=[FAILED_LOGIN_WINDOW_S, FAILED_LOGIN_LIMIT, LOGIN_LOCKOUT_S])
        if attempt < 0:
            raise LoginThrottled(max(1, -attempt))
        stored = await self._redis.hget(user_key(name), "password_hash")
        if not await self._verify(stored, password or ""):
            raise AccountError(BAD_CREDENTIALS)
        await self._redis.delete(attempts_key)  # they know the password: start counting afresh
        if self._hasher.check_needs_rehash(stored):
            new_hash = await self._in_pool(self._hasher.hash, password)
            await self._redis.hset(user_key(name), "password_hash", new_hash)
        return name

    async def set_password(self, name: str, password: str) -> None:
        """Replace an account's password (the caller checked the current one)."""
        check_password(password)
        password_hash = await self._in_pool(self._hasher.hash, password)
        if not await self._set_password(keys=[user_key(name)], args=[password_hash]):
            raise AccountError(BAD_CREDENTIALS)  # the account was deleted meanwhile

    async def remove(self, name: str) -> bool:
        """Delete an account: no one signs in with it again, its API token ends at once, and its
        name stays reserved for NAME_KEPT_AFTER_LEAVING_S. False if there was no such account."""
        self.forget(name)
        return bool(await self._remove(keys=[user_key(name), reserved_key(name), look_alike_index_key(name)],
                                       args=[NAME_KEPT_AFTER_LEAVING_S, name]))

    async def new_api_token(self, name: str) -> str:
        """A new API token for scripts and other sites (replacing the old one); shown once."""
        token = secrets.token_urlsafe(API_TOKEN_BYTES)
        old = await self._redis.hget(user_key(name), "api_token_key")
        async with self._redis.pipeline(transaction=True) as pipe:
            if old:
                pipe.delete(old)
            pipe.hset(user_key(name), "api_token_key", token_key(token))
            pipe.set(token_key(token), name)
            await pipe.execute()
        return token

    async def revoke_api_token(self, name: str) -> bool:
        """End the user's API token; False if they had none."""
        old = await self._redis.hget(user_key(name), "api_token_key")
        if not old:
            return False
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(old)
            pipe.hdel(user_key(name), "api_token_key")
            await pipe.execute()
        return True

    async def has_api_token(self, name: str) -> bool:
        return bool(await self._redis.hget(user_key(name), "api_token_key"))

    async def user_for_token(self, token: str) -> str | None:
        """The user an API token belongs to, or None."""
        if not token or len(token) > 100:
            return None
        return await self._redis.get(token_key(token))

    async def _verify(self, stored: str | None, password: str) -> bool:
        if len(password) > MAX_PASSWORD_CHARS:
            return False
        if stored is None:
            # Hash anyway so an unknown name takes as long as a wrong password.
            if self._dummy_hash is None:
                self._dummy_hash = await self._in_pool(self._hasher.hash, "not a password")
            stored = self._dummy_hash
            password = password + "\0"
        try:
            return await self._in_pool(self._hasher.verify, stored, password)
        except argon2.exceptions.VerificationError:
            return False
        except argon2.exceptions.InvalidHashError:
            return False
