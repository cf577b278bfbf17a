"""Making and checking secrets: API key credentials, service passwords, the installation key, and the sealed
secrets a pipe presents to its source.

Key secrets are long random strings, so a keyed fast hash (HMAC-SHA256 under the installation's
secret key) is as strong as a slow KDF for them; comparisons are constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from clickplane.runtime.files import create_private, private_directory

_ALPHANUMERIC = string.ascii_letters + string.digits
# How a key's secret hash was made: HMAC of the secret's SHA-256 (every key since hashData support),
# or HMAC of the secret itself (keys made before).
SECRET_OF_DIGEST = "sha256"  # noqa: S105 - a scheme name, not a secret
SECRET_PLAIN = "plain"  # noqa: S105 - a scheme name, not a secret


def random_token(length: int) -> str:
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def new_key_id() -> str:
    return random_token(20)


def new_key_secret() -> str:
    return random_token(42)


def new_service_password() -> str:
    # Letters and digits only: safe in URLs, shells and connection strings without quoting.
    return random_token(24)


class SecretHasher:
    """Keyed hashes under the installation's secret key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the secret key must be at least 32 bytes")
        self._key = key

    def hash(self, secret: str | bytes) -> str:
        data = secret.encode() if isinstance(secret, str) else secret
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()

    def matches(self, secret: str | bytes, expected_hash: str) -> bool:
        return hmac.compare_digest(self.hash(secret), expected_hash)

    def derive(self, purpose: str) -> str:
        """A stable secret for an internal purpose (e.g. the control plane's own ClickHouse user)."""
        return base64.b32encode(hmac.new(self._key, purpose.encode(), hashlib.sha256).digest()).decode()[:40]


def load_or_create_secret_key(path: Path) -> bytes:
    """The installation key from `path`, created on first use: private (0600) from its first byte, in a data
    dir of the owner's only, and whole when it appears, so two processes starting at once use one key."""
    if not path.exists():
        private_directory(path.parent)
        create_private(path, secrets.token_bytes(32).hex().encode())
    return bytes.fromhex(path.read_text().strip())


def password_sha256_hex(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def sha256_digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def key_id_hash(key_id: str) -> str:
    """How a key is looked up: SHA-256 (hex) of its id."""
    return hashlib.sha256(key_id.encode()).hexdigest()


class SecretBox:
    """Secrets the control plane must present again (a pipe's password to its source), sealed with AES-GCM under a
    key derived from the installation's: a hash would not do, and the store alone does not give them away."""

    def __init__(self, hasher: SecretHasher) -> None:
        self._cipher = AESGCM(hashlib.sha256(hasher.derive("sealed secrets").encode()).digest())

    def seal(self, secret: str) -> str:
        nonce = secrets.token_bytes(12)
        return base64.b64encode(nonce + self._cipher.encrypt(nonce, secret.encode(), None)).decode()

    def open(self, sealed: str) -> str:
        data = base64.b64decode(sealed)
        return self._cipher.decrypt(data[:12], data[12:], None).decode()
