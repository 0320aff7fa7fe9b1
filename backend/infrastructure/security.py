"""Password hashing (argon2), access tokens (JWT, HS256) and API key material."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2id with OWASP's first recommended parameters (19 MiB, 2 passes, 1 lane): about 30 ms per hash on 2 cores
# against argon2-cffi's default 64 MiB, 3 passes, 4 lanes at 155 ms, which was most of a console login. A hash made
# with other parameters still verifies, and is replaced at the next login (`needs_rehash`; docs/decisions.md,
# "argon2 on a pool of its own"). On a pool of its own that bounds memory and CPU and keeps the event loop free.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
HASHING_THREADS = 2
_hashing = ThreadPoolExecutor(max_workers=HASHING_THREADS, thread_name_prefix="argon2")

JWT_ALGORITHM = "HS256"
API_KEY_PREFIX = "mdk"


async def hash_password(password: str) -> str:
    """The argon2 hash of `password`, computed on the hashing pool."""
    return await asyncio.get_running_loop().run_in_executor(_hashing, _hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; with no hash, spend the same time and say no (on the hashing pool)."""
    return await asyncio.get_running_loop().run_in_executor(_hashing, _verify, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    """Whether a verified hash was made with other parameters than today's (it is replaced at login)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return False


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so that both failures cost one argon2 verification.

    Made on the hashing pool when the app starts (`prepare_hashing`) rather than at import: a hash is tens of
    milliseconds and 19 MiB, which every process and command paid when it imported this module.
    """
    return _hasher.hash(secrets.token_urlsafe(16))


def prepare_hashing() -> None:
    """Start making the dummy hash in the background, so that the first unknown email costs what others do."""
    _hashing.submit(_dummy_hash)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class TokenClaims:
    subject: uuid.UUID
    expires_at: datetime
    version: int  # the operator's token_version when the token was issued
    session: uuid.UUID | None = None  # the refresh family of a console login: revoking it ends the token


def issue_token(
    subject: uuid.UUID,
    secret: str,
    ttl_seconds: int,
    now: datetime | None = None,
    *,
    version: int,
    session: uuid.UUID | None = None,
) -> str:
    """A signed access token for an operator, valid while the operator's token version is `version` (and, with
    `session`, while that refresh family is not revoked)."""
    issued = now or datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": str(subject),
        "iat": issued,
        "exp": issued + timedelta(seconds=ttl_seconds),
        "typ": "access",
        "ver": version,
    }
    if session is not None:
        claims["sid"] = str(session)
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


class InvalidToken(Exception):
    """The token is malformed, forged, of another algorithm or expired."""


def read_token(token: str, secret: str) -> TokenClaims:
    """The verified claims; only HS256 is accepted, so `alg: none` and key confusion fail."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[JWT_ALGORITHM], options={"require": ["exp", "sub", "iat", "ver"]}
        )
        if claims.get("typ") != "access":
            raise InvalidToken("not an access token")
        version = claims["ver"]
        if type(version) is not int:
            raise InvalidToken("the token version is not an integer")
        sid = claims.get("sid")
        session = uuid.UUID(sid) if isinstance(sid, str) else None
        if sid is not None and session is None:
            raise InvalidToken("the token's session is not a string")
        return TokenClaims(uuid.UUID(str(claims["sub"])), datetime.fromtimestamp(claims["exp"], UTC), version, session)
    except (jwt.PyJWTError, ValueError, OverflowError, OSError) as exc:
        raise InvalidToken(str(exc)) from exc


@dataclass(frozen=True)
class NewApiKey:
    key: str  # shown once
    prefix: str
    key_hash: str


def new_api_key() -> NewApiKey:
    """`mdk_<prefix>_<secret>`: the prefix finds the row, the hash of the whole key proves it."""
    prefix = secrets.token_hex(6)
    key = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return NewApiKey(key=key, prefix=prefix, key_hash=hash_api_key(key))


def hash_api_key(key: str) -> str:
    # API keys carry 256 random bits, so a fast hash is enough (a slow one would cost every request).
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_prefix(key: str) -> str | None:
    """The lookup prefix of a well-formed key, or None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or len(parts[1]) != 12:
        return None
    return parts[1]


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
