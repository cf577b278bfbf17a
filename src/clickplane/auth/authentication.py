"""Who is calling: HTTP Basic credentials checked against stored API keys."""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from clickplane.auth.permissions import Policy, policies_of
from clickplane.auth.secrets import SECRET_PLAIN, SecretHasher, key_id_hash, sha256_digest
from clickplane.keys.repository import ApiKeys
from clickplane.kit.errors import Forbidden, Unauthorized
from clickplane.roles.repository import Roles

BASIC_PREFIX = "basic "
CREDENTIALS_HINT = ("send HTTP Basic authentication with your API key ID as the user name and the key secret "
                    "as the password")


@dataclass(frozen=True)
class Caller:
    """An authenticated API key, and where its request came from (for the activity log)."""

    key_uuid: uuid.UUID
    key_id: str
    organization_id: uuid.UUID
    role_ids: tuple[str, ...]
    policies: tuple[Policy, ...] = ()
    # The networks the key may be used from; empty means anywhere.
    allowed_networks: tuple[str, ...] = ()
    ip_address: str | None = None
    user_agent: str | None = None
    key_expires_at: datetime | None = None


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


def authenticate(header: str | None, keys: ApiKeys, hasher: SecretHasher, *, roles: Roles | None = None,
                 ip_address: str | None = None, user_agent: str | None = None) -> Caller:
    """The caller behind `header`, with the policies of its roles; raises Unauthorized or Forbidden."""
    key_id, secret = parse_basic(header)
    key = keys.by_key_id_hash(key_id_hash(key_id))
    # Hash even for an unknown key id, so that timing does not tell which key ids exist.
    presented = secret if key is not None and key.secret_scheme == SECRET_PLAIN else sha256_digest(secret)
    secret_ok = hasher.matches(presented, key.secret_hash if key else "0" * 64)
    if key is None or not secret_ok:
        raise Unauthorized("invalid API key ID or secret")
    expired = key.expire_at is not None and key.expire_at <= datetime.now(UTC)
    if key.state != "enabled" or expired:
        raise Unauthorized("Key is not active")
    role_ids = tuple(str(role_id) for role_id in key.role_ids)
    custom = roles.policies_by_id(key.organization_id, role_ids) if roles is not None else {}
    caller = Caller(key_uuid=key.id, key_id=key_id, organization_id=key.organization_id, role_ids=role_ids,
                    policies=policies_of(role_ids, custom),
                    allowed_networks=tuple(entry["source"] for entry in key.ip_access_list),
                    ip_address=ip_address, user_agent=user_agent, key_expires_at=key.expire_at)
    check_source(caller)
    return caller


def check_source(caller: Caller) -> None:
    """A key with an IP access list may only be used from those networks."""
    if not caller.allowed_networks:
        return
    try:
        address = ipaddress.ip_address(caller.ip_address or "")
    except ValueError:
        address = None
    if address is None or not any(_contains(network, address) for network in caller.allowed_networks):
        raise Forbidden(f"this API key may not be used from address {caller.ip_address}; "
                        "its IP access list does not include it")


def _contains(network: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    net = ipaddress.ip_network(network, strict=False)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return net.version == address.version and address in net


class VerifiedKeys:
    """Credentials verified in the last `ttl_seconds`, so a busy client costs a dictionary lookup instead
    of a store read and a hash. Entries are indexed by a digest of the Authorization header (a wrong
    secret never matches one), never outlive the key's own expiry, and are forgotten at once when this
    process changes the key; other processes see a change within `ttl_seconds`."""

    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, tuple[Caller, float]] = OrderedDict()

    @staticmethod
    def _digest(header: str) -> bytes:
        return hashlib.sha256(header.encode("latin-1", "replace")).digest()

    def lookup(self, header: str | None, ip_address: str | None, user_agent: str | None) -> Caller | None:
        if not header or self.ttl_seconds <= 0:
            return None
        entry = self._entries.get(self._digest(header))
        if entry is None:
            return None
        caller, valid_until = entry
        if time.monotonic() >= valid_until or (caller.key_expires_at and caller.key_expires_at <= datetime.now(UTC)):
            self._entries.pop(self._digest(header), None)
            return None
        if caller.ip_address == ip_address and caller.user_agent == user_agent:
            return caller  # the same client again: nothing to replace
        return replace(caller, ip_address=ip_address, user_agent=user_agent)

    def remember(self, header: str, caller: Caller) -> None:
        if self.ttl_seconds <= 0:
            return
        self._entries[self._digest(header)] = (caller, time.monotonic() + self.ttl_seconds)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry (roles changed: any key's permissions may have)."""
        self._entries.clear()

    def forget_key(self, key_uuid: uuid.UUID) -> None:
        for digest in [d for d, (caller, _) in self._entries.items() if caller.key_uuid == key_uuid]:
            del self._entries[digest]
