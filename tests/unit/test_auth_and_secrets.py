"""Credentials: Basic parsing, keyed hashes, active keys only."""

from __future__ import annotations

import base64
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from clickplane.auth.authentication import VerifiedKeys, authenticate, parse_basic
from clickplane.auth.secrets import (
    SecretHasher,
    key_id_hash,
    load_or_create_secret_key,
    new_key_secret,
    sha256_digest,
)
from clickplane.kit.errors import Unauthorized
from clickplane.store.models import ApiKey

HASHER = SecretHasher(b"k" * 32)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("header", [None, "", "Bearer x", "Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode(),
                                    basic("", "s"), basic("k", "")])
def test_malformed_credentials_are_unauthorized(header: str | None) -> None:
    with pytest.raises(Unauthorized):
        parse_basic(header)


def test_secret_may_contain_colons() -> None:
    assert parse_basic(basic("key", "a:b")) == ("key", "a:b")


class OneKey:
    def __init__(self, key: ApiKey) -> None:
        self.key = key

    def by_key_id_hash(self, hashed: str) -> ApiKey | None:
        return self.key if hashed == self.key.key_id_hash else None


def key(secret: str, **fields: object) -> ApiKey:
    values = {"id": uuid.uuid4(), "organization_id": uuid.uuid4(), "key_id_hash": key_id_hash("KEY"),
              "secret_hash": HASHER.hash(sha256_digest(secret)), "secret_scheme": "sha256", "state": "enabled",
              "role_ids": [], "ip_access_list": [], "expire_at": None, **fields}
    return ApiKey(**values)


def test_keys_made_before_hashed_secrets_still_authenticate() -> None:
    legacy = key("s3cret", secret_hash=HASHER.hash("s3cret"), secret_scheme="plain")
    assert authenticate(basic("KEY", "s3cret"), OneKey(legacy), HASHER).key_uuid == legacy.id  # type: ignore[arg-type]
    with pytest.raises(Unauthorized):
        authenticate(basic("KEY", "other"), OneKey(legacy), HASHER)  # type: ignore[arg-type]


def test_right_secret_authenticates_as_the_keys_organization() -> None:
    stored = key("s3cret")
    caller = authenticate(basic("KEY", "s3cret"), OneKey(stored), HASHER, ip_address="127.0.0.1")  # type: ignore[arg-type]
    assert caller.organization_id == stored.organization_id
    assert caller.ip_address == "127.0.0.1"


@pytest.mark.parametrize(("header", "stored", "message"), [
    (basic("KEY", "wrong"), key("s3cret"), "invalid"),
    (basic("OTHER", "s3cret"), key("s3cret"), "invalid"),
    (basic("KEY", "s3cret"), key("s3cret", state="disabled"), "Key is not active"),
    (basic("KEY", "s3cret"), key("s3cret", expire_at=datetime.now(UTC) - timedelta(seconds=1)), "Key is not active"),
])
def test_refusals(header: str, stored: ApiKey, message: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        authenticate(header, OneKey(stored), HASHER)  # type: ignore[arg-type]
    assert message in caught.value.message


def test_hashes_are_keyed_and_secrets_long() -> None:
    secret = new_key_secret()
    assert len(secret) >= 40
    assert SecretHasher(b"a" * 32).hash(secret) != SecretHasher(b"b" * 32).hash(secret)
    assert HASHER.matches(secret, HASHER.hash(secret))
    assert HASHER.derive("x") == HASHER.derive("x") != HASHER.derive("y")
    with pytest.raises(ValueError, match="32 bytes"):
        SecretHasher(b"short")


def test_installation_key_is_created_once_and_private(tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("key") / "secret.key"
    first = load_or_create_secret_key(path)
    assert load_or_create_secret_key(path) == first
    assert path.stat().st_mode & 0o077 == 0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_verified_keys_remember_for_their_ttl_only(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr("clickplane.auth.authentication.time.monotonic", clock)
    cache = VerifiedKeys(ttl_seconds=5)
    caller = authenticate(basic("KEY", "s3cret"), OneKey(key("s3cret")), HASHER)  # type: ignore[arg-type]
    cache.remember(basic("KEY", "s3cret"), caller)
    hit = cache.lookup(basic("KEY", "s3cret"), "10.0.0.9", "curl")
    assert hit is not None
    assert (hit.key_uuid, hit.ip_address, hit.user_agent) == (caller.key_uuid, "10.0.0.9", "curl")
    assert cache.lookup(basic("KEY", "wrong"), None, None) is None
    clock.now += 5
    assert cache.lookup(basic("KEY", "s3cret"), None, None) is None


def test_verified_keys_honour_key_expiry_and_changes() -> None:
    cache = VerifiedKeys(ttl_seconds=60, max_entries=2)
    expired = authenticate(basic("KEY", "s"), OneKey(key("s", expire_at=datetime.now(UTC) + timedelta(hours=1))),
                           HASHER)  # type: ignore[arg-type]
    cache.remember("a", replace(expired, key_expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert cache.lookup("a", None, None) is None
    fresh = authenticate(basic("KEY", "s"), OneKey(key("s")), HASHER)  # type: ignore[arg-type]
    cache.remember("b", fresh)
    cache.forget_key(fresh.key_uuid)
    assert cache.lookup("b", None, None) is None
    for header in ("c", "d", "e"):
        cache.remember(header, fresh)
    assert cache.lookup("c", None, None) is None  # the oldest is evicted past max_entries
    assert cache.lookup("e", None, None) is not None
    assert VerifiedKeys(ttl_seconds=0).lookup("e", None, None) is None
