"""Rules that keep hostile input out of ClickHouse's configuration, and secrets checked in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
import xml.etree.ElementTree as ET

import pytest

from clickplane.auth import secrets
from clickplane.auth.authentication import authenticate
from clickplane.auth.secrets import SecretHasher
from clickplane.kit.errors import BadRequest, Unauthorized
from clickplane.kit.schemas import IpAccessListEntry
from clickplane.runtime.clickhouse.config import clickhouse_networks, render_users_config
from clickplane.runtime.clickhouse.interface import ServiceSpec
from clickplane.service_settings import service as clickhouse_settings
from clickplane.services.service import validate_ip_access_list

SPEC = ServiceSpec("svc-1", hashlib.sha256(b"pw").hexdigest(), ip_access_list=("127.0.0.1",))


@pytest.mark.parametrize("source", ["fe80::1%eth0", "fe80::1%<a>&", "::1%1"])
def test_a_zone_index_is_refused_by_the_api_and_the_runtime(source: str) -> None:
    # Python's parser takes these as addresses; ClickHouse 18.16 refuses to start on the second one.
    with pytest.raises(BadRequest, match="zone index"):
        validate_ip_access_list([IpAccessListEntry(source=source)])
    with pytest.raises(ValueError, match="zone index"):
        clickhouse_networks((source,))


@pytest.mark.parametrize("value", ["${users.clickplane.password_sha256_hex}", "a${b}", "${"])
def test_a_setting_value_that_clickhouse_would_substitute_into_is_refused(value: str) -> None:
    # ClickHouse (Poco) replaces ${key} in a config value by that key's value, with no escape.
    with pytest.raises(BadRequest, match=r"may not contain '\$\{'"):
        clickhouse_settings.parse_request({"format_schema": value})
    with pytest.raises(ValueError, match="holds"):
        render_users_config(ServiceSpec("svc-1", SPEC.password_sha256_hex, settings=(("format_schema", value),)),
                            "internal", "yandex")


def test_markup_in_a_setting_value_stays_text_of_that_setting() -> None:
    value = "</service><users><evil><password></password></evil></users><x>&amp;]]>"
    spec = ServiceSpec("svc-1", SPEC.password_sha256_hex, settings=(("format_schema", value),))

    users = ET.fromstring(render_users_config(spec, "internal", "yandex"))  # noqa: S314 - our own rendering

    assert users.findtext("profiles/service/format_schema") == value
    assert [user.tag for user in users.find("users") or []] == ["default", "clickplane"]


def test_secrets_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[str, str]] = []
    compare_digest = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return compare_digest(a, b)

    monkeypatch.setattr(secrets.hmac, "compare_digest", spy)
    hasher = SecretHasher(b"k" * 32)

    assert hasher.matches("secret", hasher.hash("secret"))
    assert not hasher.matches("other", hasher.hash("secret"))
    assert len(compared) == 2


def test_an_unknown_key_id_costs_a_keyed_hash_and_a_comparison_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """So that answer times do not tell which key ids exist."""
    calls: list[str] = []
    monkeypatch.setattr(secrets.hmac, "compare_digest", lambda a, b: calls.append(a) or False)

    class NoKeys:
        def by_key_id_hash(self, hashed: str) -> None:
            return None

    header = "Basic " + base64.b64encode(f"{uuid.uuid4().hex}:secret".encode()).decode()
    with pytest.raises(Unauthorized, match="invalid API key ID or secret"):
        authenticate(header, NoKeys(), SecretHasher(b"k" * 32))  # type: ignore[arg-type]
    assert len(calls) == 1


def test_hashes_are_keyed_with_the_installation_key() -> None:
    secret = "s3cret"
    keyed = SecretHasher(b"k" * 32).hash(secret)

    assert keyed == hmac.new(b"k" * 32, secret.encode(), hashlib.sha256).hexdigest()
    assert keyed != hashlib.sha256(secret.encode()).hexdigest()
