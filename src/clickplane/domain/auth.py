"""Who is calling: HTTP Basic credentials checked against stored API keys."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from clickplane.domain.errors import Unauthorized
from clickplane.domain.secrets import SecretHasher
from clickplane.store.repositories import ApiKeys

BASIC_PREFIX = "basic "
CREDENTIALS_HINT = ("send HTTP Basic authentication with your API key ID as the user name and the key secret "
                    "as the password")


@dataclass(frozen=True)
class Caller:
    """An authenticated API key, and where its request came from (for the activity log)."""

    key_uuid: uuid.UUID
    key_id: str
    organization_id: uuid.UUID
    roles: tuple[str, ...]
    ip_address: str | None = None
    user_agent: str | None = None


def parse_basic(header: str | None) -> tuple[str, str]:
    if not header:
        raise Unauthorized(f"no credentials; {CREDENTIALS_HINT}")
    if not header.lower().startswith(BASIC_PREFIX):
        raise Unauthorized(f"unsupported authorization scheme; {CREDENTIALS_HINT}")
    try:
        decoded = base64.b64decode(header[len(BASIC_PREFIX):].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized(f"malformed Basic credentials; {CREDENTIALS_HINT}") from None
    key_id, separator, secret = decoded.partition(":")
    if not separator or not key_id or not secret:
        raise Unauthorized(f"malformed Basic credentials; {CREDENTIALS_HINT}")
    return key_id, secret


def authenticate(header: str | None, keys: ApiKeys, hasher: SecretHasher, *, ip_address: str | None = None,
                 user_agent: str | None = None) -> Caller:
    key_id, secret = parse_basic(header)
    key = keys.by_key_id(key_id)
    # Hash even for an unknown key id, so that timing does not tell which key ids exist.
    secret_ok = hasher.matches(secret, key.secret_hash if key else "0" * 64)
    if key is None or not secret_ok:
        raise Unauthorized("invalid API key ID or secret")
    expired = key.expire_at is not None and key.expire_at <= datetime.now(UTC)
    if key.state != "enabled" or expired:
        raise Unauthorized("Key is not active")
    return Caller(key_uuid=key.id, key_id=key.key_id, organization_id=key.organization_id,
                  roles=tuple(key.roles), ip_address=ip_address, user_agent=user_agent)
