"""The Query API's ClickHouse users: their names, their users.d file, their profiles in users.xml, and the KILL
that ends one caller's query when its client goes away."""

from __future__ import annotations

import hashlib
import stat
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from clickplane.query.service import kill_statement
from clickplane.runtime.clickhouse.config import (
    SERVICE_PROFILE,
    SERVICE_READ_ONLY_PROFILE,
    query_user_name,
    render_query_users,
    render_users_config,
)
from clickplane.runtime.clickhouse.interface import ServiceSpec
from clickplane.runtime.clickhouse.setup import ServicePaths, ServiceSetup
from clickplane.runtime.layout import ServiceDirectories
from clickplane.runtime.tls import ca_certificate_path

KEY = uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e")


def parse(document: bytes) -> ET.Element:
    return ET.fromstring(document)  # noqa: S314 - parses our own rendering, not untrusted input


def test_each_key_and_role_has_a_user_of_its_own() -> None:
    read_only, admin = query_user_name(str(KEY), True), query_user_name(str(KEY), False)
    assert read_only == f"query_read_only_{KEY.hex}"
    assert admin == f"query_admin_{KEY.hex}"
    assert query_user_name(str(KEY).upper(), True) == read_only  # one user per key, however it is spelled
    assert query_user_name(str(uuid.uuid4()), True) != read_only


@pytest.mark.parametrize("caller", ["", "default", "x" * 32, f"{KEY.hex}</users>", f"{KEY}-1"])
def test_a_caller_that_is_not_a_uuid_gets_no_user(caller: str) -> None:
    with pytest.raises(ValueError, match="not a UUID"):
        query_user_name(caller, True)


@pytest.mark.parametrize("root", ["yandex", "clickhouse"])
def test_query_users_are_local_only_with_hashed_passwords_under_their_role_profile(root: str) -> None:
    read_only, admin = query_user_name(str(KEY), True), query_user_name(str(KEY), False)
    document = parse(render_query_users({read_only: "pw-ro", admin: "pw-admin"}, root,  # type: ignore[arg-type]
                                        ("127.0.0.1", "::1")))

    assert document.tag == root  # merged into users.xml, whose root it must share
    users = document.find("users")
    assert users is not None
    assert [user.tag for user in users] == [admin, read_only]
    for name, password, profile in ((read_only, "pw-ro", SERVICE_READ_ONLY_PROFILE), (admin, "pw-admin",
                                                                                      SERVICE_PROFILE)):
        assert users.findtext(f"{name}/password_sha256_hex") == hashlib.sha256(password.encode()).hexdigest()
        assert users.findtext(f"{name}/profile") == profile
        assert [ip.text for ip in users.iterfind(f"{name}/networks/ip")] == ["127.0.0.1", "::1"]
    assert b"pw-ro" not in render_query_users({read_only: "pw-ro"}, "yandex")  # only the hash is written


def test_a_query_user_name_that_is_not_ours_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid query user name"):
        render_query_users({"default": "pw"}, "yandex")


def test_the_read_only_profile_takes_the_service_settings_then_readonly_1() -> None:
    spec = ServiceSpec("svc", hashlib.sha256(b"pw").hexdigest(), settings=(("readonly", "0"),
                                                                           ("max_result_rows", "7")))
    profiles = parse(render_users_config(spec, "internal", "yandex")).find("profiles")
    assert profiles is not None
    read_only = profiles.find(SERVICE_READ_ONLY_PROFILE)
    assert read_only is not None
    # Inheritance first: ClickHouse applies a profile's elements in order, so readonly = 1 wins over the
    # service's own readonly = 0.
    assert [(setting.tag, setting.text) for setting in read_only] == [("profile", SERVICE_PROFILE), ("readonly", "1")]
    assert profiles.findtext(f"{SERVICE_PROFILE}/max_result_rows") == "7"


def test_the_kill_names_one_query_of_one_user_and_quotes_both() -> None:
    assert kill_statement("q-1", "query_admin_x") == (
        "KILL QUERY WHERE query_id = 'q-1' AND user = 'query_admin_x' ASYNC")
    # The caller chooses the query id (runId): it cannot widen the KILL.
    assert kill_statement("x' OR 1 OR '", "u") == (
        "KILL QUERY WHERE query_id = 'x\\' OR 1 OR \\'' AND user = 'u' ASYNC")


def test_the_runtime_keeps_query_passwords_private_and_the_users_file_holds_hashes(tmp_path: Path) -> None:
    setup = ServiceSetup(ServiceDirectories(tmp_path / "services"), config_root="yandex", listen_host="127.0.0.1",
                         advertised_host="127.0.0.1", internal_password=lambda _: "internal",
                         ca_path=ca_certificate_path(tmp_path))
    paths = setup.paths("svc-1")
    paths.create()
    name = query_user_name(str(KEY), True)
    setup.write_query_users(paths, {name: "the-password"})

    assert stat.S_IMODE(paths.query_passwords_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.query_users_file.stat().st_mode) == 0o600
    assert ServiceSetup.query_passwords(paths) == {name: "the-password"}
    assert b"the-password" not in paths.query_users_file.read_bytes()
    assert hashlib.sha256(b"the-password").hexdigest().encode() in paths.query_users_file.read_bytes()


@pytest.mark.parametrize("stored", [b"{not json", b"[]", b'{"query_admin_x": 1}'])
def test_an_unreadable_passwords_file_counts_as_none(tmp_path: Path, stored: bytes) -> None:
    """Its users then get new passwords (and the users file new hashes) on their next use."""
    paths = ServicePaths(tmp_path)
    paths.query_passwords_file.write_bytes(stored)
    assert ServiceSetup.query_passwords(paths) == {}
