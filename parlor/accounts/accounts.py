"""Accounts: sign-up, login (argon2 hashes, throttled), passwords and API tokens, all in Redis
(parlor/accounts/usernames.py says what a name may be; parlor/accounts/lua/ holds the Lua)."""
from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from concurrent.futures import Executor

import argon2
import redis.asyncio as aioredis

from parlor.accounts.invites import Invites, invite_key, invite_refused, invite_users_key
from parlor.accounts.lookalikes import folded, look_alike_key, look_alike_keys
from parlor.accounts.password_resets import ResetNotice
from parlor.accounts.sessions import SIGN_OUT_CHANNEL
from parlor.accounts.suspensions import active_suspension
from parlor.accounts.usernames import (
    ACCOUNTS_BY_AGE_KEY,
    ACCOUNTS_BY_NAME_KEY,
    RESERVED_USERNAMES,
    USERNAME_RE,
    USERNAME_RULE,
    is_ghost,
    look_alike_index_key,
    reserved_key,
    user_key,
)
from parlor.infra.redis_client import register_scripts
from parlor.infra.user_keys import KeysNaming
from parlor.refusals import Kind, Refused
from parlor.safety import Safety, address_group

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
BAD_CREDENTIALS = "Unknown username or wrong password."  # one message: no probing for names
SIGNUP_CLOSED = "Accounts here are made by the admins. Ask one of them for an account."
INVITE_NEEDED = "Sign-up here is by invitation: open the invite link an admin gave you."
LOCKED_OUT = "Too many failed logins for this name from your address. Try again later."
HASHING_BUSY = "Parlor is checking too many passwords right now. Please try again in a moment."


def normalize_username(raw: str) -> str:
    """Fold a typed username to its canonical form, or raise Refused (invalid)."""
    name = (raw or "").strip()
    if not USERNAME_RE.fullmatch(name):
        raise Refused(Kind.INVALID, USERNAME_RULE)
    return name.lower()


def check_password(password: str) -> None:
    """Raise Refused (invalid) unless the password's length is within bounds."""
    if not MIN_PASSWORD_CHARS <= len(password or "") <= MAX_PASSWORD_CHARS:
        raise Refused(Kind.INVALID, f"A password is {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters long.")


def name_taken(name: str, similar: str | None = None) -> Refused:
    """The refusal of a name that is taken, or that looks too much like `similar`, which is."""
    if similar is None:
        return Refused(Kind.CONFLICT, f"The username “{name}” is taken. Please choose another.")
    return Refused(Kind.CONFLICT, f"The username “{name}” looks too much like “{similar}”, which is taken. "
                                  "Please choose another.")


def login_attempts_key(name: str, address: str) -> str:
    return f"login-attempts:{name}:{address}"  # failed logins of a name from one address


def token_key(token: str) -> str:
    """Where a token's owner is found: by the token's SHA-256, never the token itself."""
    return "api-token:" + hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    """Sign-up and login against Redis; password hashing runs in a thread pool, off the event loop."""

    def __init__(self, redis: aioredis.Redis, executor: Executor, hasher: argon2.PasswordHasher | None = None, *,
                 safety: Safety, hashing_slots: int | None = None, signup: str = "open", invites: Invites | None = None):
        self._redis = redis
        self._safety = safety  # counts sign-ups and password checks per address
        self.signup = signup  # who may sign up: open, invite (with an invite link) or closed (parlor/infra/config.py)
        self._invites = invites or Invites(redis)
        self._executor = executor
        # Hashes running or waiting for a thread at most (None: no bound). Past it a password
        # check is refused at once: a flood must not queue work that delays everyone's login.
        self._hashing_slots = hashing_slots
        self._hashing = 0
        self._hasher = hasher or argon2.PasswordHasher()
        self._scripts = register_scripts(redis, __package__, "create_user", "count_attempt", "remove_user",
                                         "set_password", "set_token", "index_look_alike")
        self._known: set[str] = set()  # names of accounts found to exist (see exists)
        self._token_owners: dict[str, tuple[str, float]] = {}  # token key -> (user, good until)
        self._dummy_hash: str | None = None
        self._dummy_made = asyncio.Lock()  # a burst of unknown names at start makes it once, not once each

    async def _in_pool(self, fn, *args):
        """Run a hash in the pool, or raise Refused (unavailable) at once when every slot is taken."""
        if self._hashing_slots is not None and self._hashing >= self._hashing_slots:
            raise Refused(Kind.UNAVAILABLE, HASHING_BUSY, HASHING_BUSY_RETRY_S)
        self._hashing += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self._hashing -= 1

    async def _count(self, limit: str, address: str | None) -> None:
        """Count one action of this address against a limit (Safety's "signups" or "logins"),
        or raise Refused (too_many). The console acts without an address: nothing is counted."""
        if address is not None:
            await self._safety.hit(limit, address_group(address))

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

    async def forget_user(self, user: str, keys: KeysNaming) -> None:
        """The account is gone (Accounts.remove): its failed-login counters go too."""
        await keys.delete_matching(login_attempts_key(user, "*"))

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
            self._forget_tokens_of(user)
        else:
            for key in keys.split(","):
                self._token_owners.pop(key, None)

    def _forget_tokens_of(self, user: str) -> None:
        for key in [k for k, (owner, _) in self._token_owners.items() if owner == user]:
            del self._token_owners[key]

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
        """Index the look-alike key of every account (and reserved name) that has none yet;
        returns how many were added. Safe to run at every start, by every process."""
        added = 0
        for pattern in (user_key("*"), reserved_key("*")):
            async for key in self._redis.scan_iter(match=pattern, count=1000):
                name = key.split(":", 1)[1]
                if USERNAME_RE.fullmatch(name):
                    added += await self._scripts.index_look_alike(
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
        invite code, using it once); sign-ups without an invite are counted per address."""
        name = normalize_username(raw_name)
        check_password(password)
        await self.check_signup(invite)
        if invite is None:
            # Counted before the name is looked at (name enumeration: over the limit, a taken name
            # gets the same 429 as a free one, and trying names costs sign-ups) and before hashing
            # (a flood of sign-ups costs no argon2 time).
            await self._count("signups", address)
            return await self._create_account(name, password, None)
        # Through an invite, its uses bound the accounts made (the admin's decision: a class behind
        # one address signs up with one link); a refused name still costs the address a sign-up,
        # so trying names through an invite is limited as without one.
        try:
            return await self._create_account(name, password, invite)
        except Refused as refused:
            if refused.kind is Kind.CONFLICT:
                await self._count("signups", address)
            raise

    async def create(self, raw_name: str, password: str) -> str:
        """Make an account whatever the sign-up mode, uncounted (an admin does it); its name."""
        name = normalize_username(raw_name)
        check_password(password)
        return await self._create_account(name, password, None)

    async def _create_account(self, name: str, password: str, invite: str | None) -> str:
        if await self.is_taken(name):
            raise name_taken(name)
        similar = await self.look_alike(name)
        if similar and similar != name:
            raise name_taken(name, similar)
        password_hash = await self._in_pool(self._hasher.hash, password)
        keys = [user_key(name), reserved_key(name), look_alike_index_key(name), ACCOUNTS_BY_AGE_KEY, ACCOUNTS_BY_NAME_KEY]
        fields = ["password_hash", password_hash, "created_at", str(int(time.time()))]
        if invite is not None:
            keys += [invite_key(invite), invite_users_key(invite)]
            fields += ["invite", invite]
        created = await self._scripts.create_user(keys=keys, args=[name, int(time.time() * 1000), *fields])
        if created == 0:  # someone took it while we were hashing
            raise name_taken(name)
        if created != 1:  # the invite was used up (or withdrawn, or ended) while we were hashing
            raise invite_refused(created)
        return name

    async def log_in(self, raw_name: str, password: str, address: str) -> str:
        """Check a password and return the canonical name. Every check is counted per address,
        failures per name and address, both before any hashing."""
        try:
            name = normalize_username(raw_name)
        except Refused:
            raise Refused(Kind.INVALID, BAD_CREDENTIALS) from None
        # Hash flooding: fresh names dodge the per-name count, so every address has a budget of
        # password checks too, shared by all processes.
        await self._count("logins", address)
        attempts_key = login_attempts_key(name, address)
        attempt = await self._scripts.count_attempt(
            keys=[attempts_key], args=[FAILED_LOGIN_WINDOW_S, FAILED_LOGIN_LIMIT, LOGIN_LOCKOUT_S])
        if attempt < 0:
            raise Refused(Kind.TOO_MANY, LOCKED_OUT, max(1, -attempt))
        stored = await self._redis.hget(user_key(name), "password_hash")
        if not await self._verify(stored, password or ""):
            raise Refused(Kind.INVALID, BAD_CREDENTIALS)
        await self._redis.delete(attempts_key)  # they know the password: start counting afresh
        # Said only to whoever knows the password: a stranger learns nothing of a suspension.
        suspension = await active_suspension(self._redis, name)
        if suspension is not None:
            raise Refused(Kind.FORBIDDEN, f"This account is suspended {suspension.until_text}. "
                                          f"The reason given: {suspension.reason}")
        if self._hasher.check_needs_rehash(stored):
            try:
                new_hash = await self._in_pool(self._hasher.hash, password)
            except Refused:  # every hashing slot is taken
                return name  # rehashed at a quieter login
            await self._redis.hset(user_key(name), "password_hash", new_hash)
        return name

    async def set_password(self, name: str, password: str) -> None:
        """Replace an account's password (the caller checked the current one); its API token ends."""
        await self.store_password_hash(name, await self.password_hash(password))

    async def password_hash(self, password: str) -> str:
        """The hash a new password is stored as (Refused if its length is out of bounds)."""
        check_password(password)
        return await self._in_pool(self._hasher.hash, password)

    async def store_password_hash(self, name: str, password_hash: str, reset_notice: str = "") -> None:
        """Set an account's password hash; its API token ends. `reset_notice` is what its owner
        is told at their next login (an admin's link set the password), "" clears an earlier one."""
        if not await self._scripts.set_password(keys=[user_key(name)],
                                                args=[password_hash, name, SIGN_OUT_CHANNEL, reset_notice]):
            raise Refused(Kind.INVALID, BAD_CREDENTIALS)  # the account was deleted meanwhile

    async def reset_notice(self, name: str) -> ResetNotice | None:
        """What the owner is to be told of an admin's reset of their password, if anything."""
        return ResetNotice.parse(await self._redis.hget(user_key(name), "reset_notice"))

    async def remove(self, name: str) -> bool:
        """Delete an account: no one signs in with it again, its API token ends at once, and its
        name stays reserved for NAME_KEPT_AFTER_LEAVING_S. False if there was no such account."""
        self.forget(name)
        return bool(await self._scripts.remove_user(
            keys=[user_key(name), reserved_key(name), look_alike_index_key(name), ACCOUNTS_BY_AGE_KEY,
                  ACCOUNTS_BY_NAME_KEY], args=[NAME_KEPT_AFTER_LEAVING_S, name]))

    async def new_api_token(self, name: str) -> str:
        """A new API token for scripts and other sites (replacing the old one, whose live
        connections end); shown once. The caller checked the password."""
        token = secrets.token_urlsafe(API_TOKEN_BYTES)
        replaced = await self._scripts.set_token(keys=[user_key(name), token_key(token)], args=[name, SIGN_OUT_CHANNEL])
        self._forget_tokens_of(name)  # at once here; other processes when the sign-out notice comes
        if replaced == 0:
            raise Refused(Kind.INVALID, BAD_CREDENTIALS)  # the account was deleted meanwhile
        return token

    async def revoke_api_token(self, name: str) -> bool:
        """End the user's API token and its live connections; False if they had none."""
        ended = await self._scripts.set_token(keys=[user_key(name)], args=[name, SIGN_OUT_CHANNEL])
        self._forget_tokens_of(name)  # at once here; other processes when the sign-out notice comes
        return ended not in (0, "")

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
