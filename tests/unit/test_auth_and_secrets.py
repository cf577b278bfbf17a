"""Credentials: Basic parsing, keyed hashes, active keys only."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from clickplane.domain.auth import authenticate, parse_basic
from clickplane.domain.errors import Unauthorized
from clickplane.domain.secrets import SecretHasher, load_or_create_secret_key, new_key_secret
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

    def by_key_id(self, key_id: str) -> ApiKey | None:
        return self.key if key_id == self.key.key_id else None


def key(secret: str, **fields: object) -> ApiKey:
    values = {"id": uuid.uuid4(), "organization_id": uuid.uuid4(), "key_id": "KEY", "secret_hash": HASHER.hash(secret),
              "state": "enabled", "roles": ["admin"], "expire_at": None, **fields}
    return ApiKey(**values)


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
