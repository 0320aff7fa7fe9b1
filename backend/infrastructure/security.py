"""Password hashing (argon2), access tokens (JWT, HS256) and API key material."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the email is unknown, so that both failures cost one argon2 verification.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

JWT_ALGORITHM = "HS256"
API_KEY_PREFIX = "mdk"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; with no hash, spend the same time and say no."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class TokenClaims:
    subject: uuid.UUID
    expires_at: datetime


def issue_token(subject: uuid.UUID, secret: str, ttl_seconds: int, now: datetime | None = None) -> str:
    """A signed access token for an operator."""
    issued = now or datetime.now(UTC)
    claims = {"sub": str(subject), "iat": issued, "exp": issued + timedelta(seconds=ttl_seconds), "typ": "access"}
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


class InvalidToken(Exception):
    """The token is malformed, forged, of another algorithm or expired."""


def read_token(token: str, secret: str) -> TokenClaims:
    """The verified claims; only HS256 is accepted, so `alg: none` and key confusion fail."""
    try:
        claims = jwt.decode(token, secret, algorithms=[JWT_ALGORITHM], options={"require": ["exp", "sub", "iat"]})
        if claims.get("typ") != "access":
            raise InvalidToken("not an access token")
        return TokenClaims(uuid.UUID(str(claims["sub"])), datetime.fromtimestamp(claims["exp"], UTC))
    except (jwt.PyJWTError, ValueError) as exc:
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
