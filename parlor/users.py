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

from .invites import INVITE_STATE_LUA, Invites, invite_key, invite_refused, invite_users_key
from .names import folded, look_alike_key, look_alike_keys
from .refusals import Refused
from .safety import address_group
from .sessions import SIGN_OUT_CHANNEL
from .suspensions import active_suspension

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
# A token's owner is remembered this long: an API script's requests do not each ask Redis. An
# ended token's sign-out notice clears it at once; the lifetime bounds only a notice that was missed.
TOKEN_CACHE_S = 5.0
TOKEN_CACHE_MAX = 10_000  # tokens remembered at most (then forgotten all at once)
NAME_KEPT_AFTER_LEAVING_S = 30 * 24 * 3600  # a deleted account's name is reserved this long
MIN_PASSWORD_CHARS = 8  # shorter falls to guessing
MAX_PASSWORD_CHARS = 256  # argon2 is slow on purpose; a cap stops huge inputs costing more
FAILED_LOGIN_LIMIT = 10  # attempts (all but a success) for one name from one address ...
FAILED_LOGIN_WINDOW_S = 60  # ... within this window ...
LOGIN_LOCKOUT_S = 300  # ... lock that name from that address (only) this long
API_TOKEN_BYTES = 32  # 256 random bits; only its SHA-256 is stored
HASHING_BUSY_RETRY_S = 1  # a password check refused because every hashing slot was taken: retry after

# Creates the user only if the name is free (no account, not reserved after one was deleted, no
# look-alike taken): two sign-ups of one name, or of two look-alikes, race and exactly one wins.
# With an invite (KEYS[4], and KEYS[5] the list of who used it), only if the invite can be used
# now, and using it once: two sign-ups cannot both take its last use. KEYS: user, reserved,
# look-alike[, invite, its users]. ARGV: the name, now (ms), then the account's fields. Returns
# 1 (made), 0 (the name is taken) or why the invite cannot be used (INVITE_STATE_LUA).
_CREATE_USER = INVITE_STATE_LUA + """
if KEYS[4] then
  local state = invite_state(KEYS[4], ARGV[2])
  if state ~= 'open' then return state end
end
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return 0 end
local owner = redis.call('GET', KEYS[3])
if owner and owner ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
if KEYS[4] then
  redis.call('HINCRBY', KEYS[4], 'used', 1)
  redis.call('RPUSH', KEYS[5], ARGV[1])
  redis.call('PEXPIRE', KEYS[5], redis.call('PTTL', KEYS[4]))
end
return 1
"""

# A new password hash, for an account that still exists; it ends the API token (whoever had the
# old password may have made it), and every process hears so. KEYS: user. ARGV: the hash, the
# user, the sign-out channel.
_SET_PASSWORD = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'password_hash', ARGV[1])
local token = redis.call('HGET', KEYS[1], 'api_token_key')
if token then
  redis.call('DEL', token)
  redis.call('HDEL', KEYS[1], 'api_token_key')
  redis.call('PUBLISH', ARGV[3], ARGV[2] .. '\\n' .. token)
end
return 1
"""

# Replace the user's API token (a new token's key given) or revoke it (none given); the old one's
# live connections end on every process. KEYS: user, maybe the new token's key. ARGV: user, the
# sign-out channel. Returns the old token's key ('' if none), or 0 if there is no such user.
_SET_TOKEN = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local old = redis.call('HGET', KEYS[1], 'api_token_key')
if old then
  redis.call('DEL', old)
  redis.call('PUBLISH', ARGV[2], ARGV[1] .. '\\n' .. old)
end
if KEYS[2] then
  redis.call('HSET', KEYS[1], 'api_token_key', KEYS[2])
  redis.call('SET', KEYS[2], ARGV[1])
else
  redis.call('HDEL', KEYS[1], 'api_token_key')
end
return old or ''
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
    """A sign-up or login that cannot go ahead; str() is a message for the person, `kind` the
    kind of refusal (parlor/refusals.py) its form is answered as."""

    kind = "invalid"


class UsernameTaken(AccountError):
    kind = "conflict"


class TryLater(AccountError):
    """Refused for now, before any password was hashed: `kind` is too_many (over a limit) or
    unavailable (the server is busy), `retry_after` the seconds to wait."""

    kind = "too_many"

    def __init__(self, message: str, retry_after: int | None):
        super().__init__(message)
        self.retry_after = retry_after


class SignupThrottled(TryLater):
    pass


class LoginThrottled(TryLater):
    pass


class AccountSuspended(AccountError):
    """The right password for a suspended account: no login until the suspension ends."""

    kind = "forbidden"


class HashingBusy(TryLater):
    kind = "unavailable"

    def __init__(self):
        super().__init__("Parlor is checking too many passwords right now. Please try again in a moment.",
                         HASHING_BUSY_RETRY_S)


BAD_CREDENTIALS = "Unknown username or wrong password."  # one message: no probing for names
SIGNUP_CLOSED = "Accounts here are made by the admins. Ask one of them for an account."
INVITE_NEEDED = "Sign-up here is by invitation: open the invite link an admin gave you."
LOCKED_OUT = "Too many failed logins for this name from your address. Try again later."


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
                 safety=None, hashing_slots: int | None = None, signup: str = "open", invites: Invites | None = None):
        self._redis = redis
        self._safety = safety  # counts sign-ups and password checks per address when given
        self.signup = signup  # who may sign up: open, invite (with an invite link) or closed (parlor/config.py)
        self._invites = invites or Invites(redis)
        self._executor = executor
        # Hashes running or waiting for a thread at most (None: no bound). Past it a password
        # check is refused at once: a flood must not queue work that delays everyone's login.
        self._hashing_slots = hashing_slots
        self._hashing = 0
        self._hasher = hasher or argon2.PasswordHasher()
        self._create = redis.register_script(_CREATE_USER)
        self._count_attempt = redis.register_script(_COUNT_ATTEMPT)
        self._remove = redis.register_script(_REMOVE_USER)
        self._set_password = redis.register_script(_SET_PASSWORD)
        self._set_token = redis.register_script(_SET_TOKEN)
        self._index_look_alike = redis.register_script(_INDEX_LOOK_ALIKE)
        self._known: set[str] = set()  # names of accounts found to exist (see exists)
        self._token_owners: dict[str, tuple[str, float]] = {}  # token key -> (user, good until)
        self._dummy_hash: str | None = None
        self._dummy_made = asyncio.Lock()  # a burst of unknown names at start makes it once, not once each

    async def _in_pool(self, fn, *args):
        """Run a hash in the pool, or raise HashingBusy at once when every slot is taken."""
        if self._hashing_slots is not None and self._hashing >= self._hashing_slots:
            raise HashingBusy()
        self._hashing += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self._hashing -= 1

    async def _count(self, limit: str, address: str | None, refused: type[TryLater]) -> None:
        """Count one action of this address against a limit (Safety's "signups" or "logins"),
        or raise `refused`."""
        if self._safety is None or address is None:
            return
        try:
            await self._safety.hit(limit, address_group(address))
        except Refused as e:
            raise refused(str(e), e.retry_after) from None

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
        and token (the notices were not heard for a while)."""
        if name is None:
            self._known.clear()
            self._token_owners.clear()
        else:
            self._known.discard(name)

    def on_sign_out(self, notice: str) -> None:
        """Sessions or tokens ended on some process (a sign-out notice): forget the tokens among
        them; `*` (the account is gone) forgets every token of its user."""
        user, keys = notice.split("\n", 1)
        if keys == "*":
            for key in [k for k, (owner, _) in self._token_owners.items() if owner == user]:
                del self._token_owners[key]
        else:
            for key in keys.split(","):
                self._token_owners.pop(key, None)

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

    async def check_signup(self, invite: str | None) -> None:
        """Whether a visitor may sign up now, with this invite code (or none): Refused if not.
        An invite is checked in every mode but closed (in open mode, a spent one is not silently
        ignored: its link says what became of it)."""
        if self.signup == "closed":
            raise Refused("forbidden", SIGNUP_CLOSED)
        if invite is None:
            if self.signup == "invite":
                raise Refused("forbidden", INVITE_NEEDED)
            return
        await self._invites.check(invite)

    async def sign_up(self, raw_name: str, password: str, address: str | None = None,
                      invite: str | None = None) -> str:
        """Create an account and return its canonical name, as the sign-up mode allows (with an
        invite code, using it once); sign-ups are counted per address."""
        name = normalize_username(raw_name)
        check_password(password)
        await self.check_signup(invite)
        # Counted before the name is looked at (name enumeration: over the limit, a taken name
        # gets the same 429 as a free one, and trying names costs sign-ups) and before hashing
        # (a flood of sign-ups costs no argon2 time).
        await self._count("signups", address, SignupThrottled)
        return await self._create_account(name, password, invite)

    async def create(self, raw_name: str, password: str) -> str:
        """Make an account whatever the sign-up mode, uncounted (an admin does it); its name."""
        name = normalize_username(raw_name)
        check_password(password)
        return await self._create_account(name, password, None)

    async def _create_account(self, name: str, password: str, invite: str | None) -> str:
        if await self.is_taken(name):
            raise UsernameTaken(f"The username “{name}” is taken. Please choose another.")
        similar = await self.look_alike(name)
        if similar and similar != name:
            raise UsernameTaken(f"The username “{name}” looks too much like “{similar}”, which is taken. "
                                "Please choose another.")
        password_hash = await self._in_pool(self._hasher.hash, password)
        keys = [user_key(name), reserved_key(name), look_alike_index_key(name)]
        fields = ["password_hash", password_hash, "created_at", str(int(time.time()))]
        if invite is not None:
            keys += [invite_key(invite), invite_users_key(invite)]
            fields += ["invite", invite]
        created = await self._create(keys=keys, args=[name, int(time.time() * 1000), *fields])
        if created == 0:  # someone took it while we were hashing
            raise UsernameTaken(f"The username “{name}” is taken. Please choose another.")
        if created != 1:  # the invite was used up (or withdrawn, or ended) while we were hashing
            raise invite_refused(created)
        return name

    async def log_in(self, raw_name: str, password: str, address: str) -> str:
        """Check a password and return the canonical name. Every check is counted per address,
        failures per name and address, both before any hashing."""
        try:
            name = normalize_username(raw_name)
        except AccountError:
            raise AccountError(BAD_CREDENTIALS) from None
        # Hash flooding: fresh names dodge the per-name count, so every address has a budget of
        # password checks too, shared by all processes.
        await self._count("logins", address, LoginThrottled)
        attempts_key = f"login-attempts:{name}:{address}"
        attempt = await self._count_attempt(
            keys=[attempts_key], args=[FAILED_LOGIN_WINDOW_S, FAILED_LOGIN_LIMIT, LOGIN_LOCKOUT_S])
        if attempt < 0:
            raise LoginThrottled(LOCKED_OUT, max(1, -attempt))
        stored = await self._redis.hget(user_key(name), "password_hash")
        if not await self._verify(stored, password or ""):
            raise AccountError(BAD_CREDENTIALS)
        await self._redis.delete(attempts_key)  # they know the password: start counting afresh
        # Said only to whoever knows the password: a stranger learns nothing of a suspension.
        suspension = await active_suspension(self._redis, name)
        if suspension is not None:
            raise AccountSuspended(f"This account is suspended {suspension.until_text}. "
                                   f"The reason given: {suspension.reason}")
        if self._hasher.check_needs_rehash(stored):
            try:
                new_hash = await self._in_pool(self._hasher.hash, password)
            except HashingBusy:
                return name  # rehashed at a quieter login
            await self._redis.hset(user_key(name), "password_hash", new_hash)
        return name

    async def set_password(self, name: str, password: str) -> None:
        """Replace an account's password (the caller checked the current one); its API token ends."""
        check_password(password)
        password_hash = await self._in_pool(self._hasher.hash, password)
        if not await self._set_password(keys=[user_key(name)], args=[password_hash, name, SIGN_OUT_CHANNEL]):
            raise AccountError(BAD_CREDENTIALS)  # the account was deleted meanwhile

    async def remove(self, name: str) -> bool:
        """Delete an account: no one signs in with it again, its API token ends at once, and its
        name stays reserved for NAME_KEPT_AFTER_LEAVING_S. False if there was no such account."""
        self.forget(name)
        return bool(await self._remove(keys=[user_key(name), reserved_key(name), look_alike_index_key(name)],
                                       args=[NAME_KEPT_AFTER_LEAVING_S, name]))

    async def new_api_token(self, name: str) -> str:
        """A new API token for scripts and other sites (replacing the old one, whose live
        connections end); shown once. The caller checked the password."""
        token = secrets.token_urlsafe(API_TOKEN_BYTES)
        if await self._set_token(keys=[user_key(name), token_key(token)], args=[name, SIGN_OUT_CHANNEL]) == 0:
            raise AccountError(BAD_CREDENTIALS)  # the account was deleted meanwhile
        return token

    async def revoke_api_token(self, name: str) -> bool:
        """End the user's API token and its live connections; False if they had none."""
        return await self._set_token(keys=[user_key(name)], args=[name, SIGN_OUT_CHANNEL]) not in (0, "")

    async def has_api_token(self, name: str) -> bool:
        return bool(await self._redis.hget(user_key(name), "api_token_key"))

    async def user_for_token(self, token: str) -> str | None:
        """The user an API token belongs to, or None."""
        if not token or len(token) > 100:
            return None
        key = token_key(token)
        now = time.monotonic()
        known = self._token_owners.get(key)
        if known is not None and known[1] > now:
            return known[0]
        user = await self._redis.get(key)
        if user is not None:
            if len(self._token_owners) >= TOKEN_CACHE_MAX:
                self._token_owners.clear()
            self._token_owners[key] = (user, now + TOKEN_CACHE_S)
        return user

    async def _verify(self, stored: str | None, password: str) -> bool:
        if len(password) > MAX_PASSWORD_CHARS:
            return False
        if stored is None:
            # Hash anyway so an unknown name takes as long as a wrong password.
            async with self._dummy_made:
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
