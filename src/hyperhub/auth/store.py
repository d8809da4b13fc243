"""`AuthStore`: users (argon2 password hashes), API tokens (sha256 hashes) and the one-time
setup code, in one SQLite file that the hub and the CLI share (WAL, so a `hyperhub token
revoke` in another process counts at the hub's next request)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hyperhub.config import private_dir, private_file
from hyperhub.errors import HyperHubError
from hyperhub.service import Closing

AUTH_DB = "auth.db"
SETUP_CODE_FILE = "setup-code"
TOKEN_PREFIX = "hh_"
SCOPES = ("read", "control", "control:risky", "admin")
ALL_SCOPES = frozenset(SCOPES)
USER_SCOPES = frozenset({"read", "control"})  # what a login of a user who is not admin gets
LOGIN_TTL = 30 * 86400.0  # seconds a login token lasts
LAST_USED_EVERY = 60.0  # seconds between writes of a token's last_used
MIN_PASSWORD, MAX_PASSWORD = 8, 1024
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off a terminal
_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, hash TEXT NOT NULL, admin INTEGER NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, name TEXT NOT NULL, scopes TEXT NOT NULL,
    user TEXT, created REAL NOT NULL, last_used REAL, expires REAL, revoked REAL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_TOKEN_COLUMNS = "id, name, scopes, user, created, last_used, expires, revoked"


class UnknownToken(HyperHubError):
    """No token has this id."""


class AuthError(HyperHubError):
    """A credential was refused; `code` says why (unauthorized, token_revoked, token_expired,
    bad_credentials, setup_done)."""

    def __init__(self, message: str, code: str = "unauthorized") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Token:
    """A token as stored (never its secret)."""

    id: str
    name: str
    scopes: frozenset[str]
    user: str | None
    created: float
    last_used: float | None
    expires: float | None
    revoked: float | None

    def has(self, scope: str) -> bool:
        return scope in self.scopes

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "scopes": sorted(self.scopes, key=SCOPES.index),
            "user": self.user,
            "created": self.created,
            "last_used": self.last_used,
            "expires": self.expires,
            "revoked": self.revoked,
        }


@dataclass(frozen=True)
class User:
    name: str
    admin: bool
    created: float

    @property
    def scopes(self) -> frozenset[str]:
        return ALL_SCOPES if self.admin else USER_SCOPES


def parse_scopes(text: str | Iterable[str]) -> frozenset[str]:
    """'read,control' (or a list) → scopes; `HyperHubError` naming an unknown one."""
    items = text.split(",") if isinstance(text, str) else list(text)
    scopes = frozenset(s.strip() for s in items if s.strip())
    unknown = sorted(scopes - ALL_SCOPES)
    if unknown:
        raise HyperHubError(f"unknown scope {unknown[0]!r}; scopes are {', '.join(SCOPES)}")
    if not scopes:
        raise HyperHubError(f"give at least one scope: {', '.join(SCOPES)}")
    return scopes


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _code_hash(code: str) -> str:
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def normalize_code(code: str) -> str:
    return re.sub(r"[\s-]", "", code).upper()


class AuthStore(Closing):
    """Users and tokens of one data dir. Thread-safe; close it when done (or use `with`)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / AUTH_DB
        private_file(private_dir(data_dir) / AUTH_DB)  # created private before SQLite opens it
        self._lock = threading.Lock()
        self._hasher = PasswordHasher()
        self._dummy_hash: str | None = None
        self._last_used: dict[str, float] = {}
        try:
            self._conn = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=5.0
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise HyperHubError(f"cannot open the auth store {self.path}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction (BEGIN IMMEDIATE: other processes wait for it) under the lock."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise HyperHubError(f"cannot write the auth store {self.path}: {exc}") from None

    def _query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._conn.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise HyperHubError(f"cannot read the auth store {self.path}: {exc}") from None

    # -- tokens -----------------------------------------------------------------------------

    def create_token(
        self,
        name: str | None,
        scopes: Iterable[str],
        *,
        user: str | None = None,
        ttl: float | None = None,
    ) -> tuple[str, Token]:
        """A new token: (its secret, shown once; what is stored)."""
        chosen = parse_scopes(scopes)
        token_id = secrets.token_hex(6)
        name = (name or f"token-{token_id}").strip()
        if not _NAME.match(name):
            raise HyperHubError("a token name has 1 to 64 characters, no control characters")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = time.time()
        token = Token(
            token_id, name, chosen, user, now, None, None if ttl is None else now + ttl, None
        )
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO tokens (id, hash, name, scopes, user, created, expires) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    token.id,
                    token_hash(secret),
                    name,
                    ",".join(sorted(chosen, key=SCOPES.index)),
                    user,
                    now,
                    token.expires,
                ),
            )
        return secret, token

    def verify(self, secret: str) -> Token:
        """The live token with this secret; `AuthError` when unknown, revoked or expired."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            raise AuthError("invalid token")
        rows = self._query(
            f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE hash = ?", (token_hash(secret),)
        )
        if not rows:
            raise AuthError("invalid token")
        token = _token(rows[0])
        now = time.time()
        if token.revoked is not None:
            raise AuthError(f"token {token.id} ({token.name}) was revoked", "token_revoked")
        if token.expires is not None and token.expires <= now:
            raise AuthError(f"token {token.id} ({token.name}) has expired", "token_expired")
        if now - self._last_used.get(token.id, 0.0) >= LAST_USED_EVERY:
            self._last_used[token.id] = now
            # a busy database must not refuse a request
            with contextlib.suppress(HyperHubError), self._tx() as conn:
                conn.execute("UPDATE tokens SET last_used = ? WHERE id = ?", (now, token.id))
        return token

    def is_live(self, token_id: str) -> bool:
        """Whether the token is neither revoked nor expired (for open WebSockets)."""
        rows = self._query("SELECT revoked, expires FROM tokens WHERE id = ?", (token_id,))
        if not rows:
            return False
        revoked, expires = rows[0]
        return revoked is None and (expires is None or expires > time.time())

    def tokens(self) -> list[Token]:
        """Every token, newest first (revoked ones too)."""
        rows = self._query(f"SELECT {_TOKEN_COLUMNS} FROM tokens ORDER BY created DESC")
        return [_token(r) for r in rows]

    def revoke(self, token_id: str) -> Token:
        """Revoke a token now; `HyperHubError` when there is no such token."""
        with self._tx() as conn:
            found = conn.execute("SELECT id FROM tokens WHERE id = ?", (token_id,)).fetchone()
            if found is None:
                raise UnknownToken(f"no token {token_id!r}; see `hyperhub token list`")
            conn.execute(
                "UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL",
                (time.time(), token_id),
            )
            row = conn.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE id = ?", (token_id,)
            ).fetchone()
        return _token(row)

    # -- users ------------------------------------------------------------------------------

    def add_user(self, name: str, password: str, *, admin: bool = False) -> User:
        """Create a user, or set the password (and admin flag) of an existing one."""
        hashed = self._new_hash(name, password)
        with self._tx() as conn:
            return self._put_user(conn, name, hashed, admin)

    def _new_hash(self, name: str, password: str) -> str:
        if not _USERNAME.match(name):
            raise HyperHubError(
                f"bad user name {name[:70]!r}: use 1 to 64 letters, digits and _ . @ -"
            )
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise HyperHubError(
                f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters, not {len(password)}"
            )
        return self._hasher.hash(password)

    def _put_user(self, conn: sqlite3.Connection, name: str, hashed: str, admin: bool) -> User:
        user = User(name, admin, time.time())
        conn.execute(
            "INSERT INTO users (name, hash, admin, created) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET hash = excluded.hash, admin = excluded.admin",
            (name, hashed, int(admin), user.created),
        )
        if admin:  # the setup code is for making the first admin: there is one now
            conn.execute("DELETE FROM meta WHERE key = 'setup_code'")
            self._remove_code_file()
        return user

    def users(self) -> list[User]:
        rows = self._query("SELECT name, admin, created FROM users ORDER BY name")
        return [User(n, bool(a), c) for n, a, c in rows]

    def has_admin(self) -> bool:
        return bool(self._query("SELECT 1 FROM users WHERE admin = 1 LIMIT 1"))

    def check_password(self, name: str, password: str) -> User:
        """The user if the password is right; `AuthError` (bad_credentials) otherwise. Slow
        on purpose (argon2): call it off the event loop."""
        rows = self._query("SELECT name, hash, admin, created FROM users WHERE name = ?", (name,))
        if not rows:
            self._verify_dummy(password)  # the same time whether or not the user exists
            raise AuthError("wrong user name or password", "bad_credentials")
        _, hashed, admin, created = rows[0]
        try:
            self._hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            raise AuthError("wrong user name or password", "bad_credentials") from None
        return User(name, bool(admin), created)

    def login(self, name: str, password: str) -> tuple[str, Token, User]:
        """Check the password and give a 30-day token with the user's scopes."""
        user = self.check_password(name, password)
        secret, token = self.create_token(user.name, user.scopes, user=user.name, ttl=LOGIN_TTL)
        return secret, token, user

    def _verify_dummy(self, password: str) -> None:
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_hex(8))
        with contextlib.suppress(VerificationError, InvalidHashError):
            self._hasher.verify(self._dummy_hash, password)

    # -- the one-time setup code ------------------------------------------------------------

    def issue_setup_code(self) -> str | None:
        """A new one-time setup code when no admin exists (also written to `setup-code`,
        mode 0600); None when there is an admin."""
        if self.has_admin():
            self._remove_code_file()
            return None
        raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(16))
        code = "-".join(raw[i : i + 4] for i in range(0, 16, 4))
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('setup_code', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (_code_hash(code),),
            )
        path = self.data_dir / SETUP_CODE_FILE
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(code + "\n")
        return code

    def setup_needed(self) -> bool:
        return not self.has_admin()

    def setup_admin(self, code: str, name: str, password: str) -> User:
        """Create the first admin with the setup code (which is then used up). Slow on
        purpose (argon2): call it off the event loop."""
        hashed = self._new_hash(name, password)
        with self._tx() as conn:  # one transaction: two setups racing make one admin
            if conn.execute("SELECT 1 FROM users WHERE admin = 1 LIMIT 1").fetchone():
                raise AuthError("setup is done: an admin exists; log in instead", "setup_done")
            row = conn.execute("SELECT value FROM meta WHERE key = 'setup_code'").fetchone()
            if row is None or not hmac.compare_digest(row[0], _code_hash(code)):
                raise AuthError(
                    "wrong setup code (see the hub's output or <data_dir>/setup-code)",
                    "bad_credentials",
                )
            return self._put_user(conn, name, hashed, True)

    def _remove_code_file(self) -> None:
        (self.data_dir / SETUP_CODE_FILE).unlink(missing_ok=True)


def _token(row: tuple) -> Token:
    token_id, name, scopes, user, created, last_used, expires, revoked = row
    return Token(
        token_id,
        name,
        frozenset(s for s in scopes.split(",") if s),
        user,
        created,
        last_used,
        expires,
        revoked,
    )
