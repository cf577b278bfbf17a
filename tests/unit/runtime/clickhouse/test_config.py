"""Rendering of ClickHouse's config.xml and users.xml for the local runtime."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from clickplane.runtime.clickhouse.config import (
    INTERNAL_USER,
    SERVICE_PROFILE,
    ConfigRoot,
    ServerConfig,
    TlsFiles,
    clickhouse_networks,
    config_root_for,
    render_server_config,
    render_users_config,
    server_command,
)
from clickplane.runtime.clickhouse.interface import ServiceSpec

HASH = hashlib.sha256(b"secret").hexdigest()


def server_config(root: ConfigRoot = "yandex", base: Path = Path("/srv/svc"), tls: bool = False) -> ServerConfig:
    return ServerConfig(
        root=root,
        listen_host="127.0.0.1",
        http_port=18123,
        tcp_port=19000,
        https_port=18443 if tls else None,
        tcp_port_secure=19440 if tls else None,
        data_path=base / "data",
        tmp_path=base / "tmp",
        user_files_path=base / "user_files",
        users_config=base / "users.xml",
        log_file=base / "logs" / "server.log",
        error_log_file=base / "logs" / "server.err.log",
        tls=TlsFiles(base / "server.crt", base / "server.key") if tls else None,
    )


def parse(document: bytes) -> ET.Element:
    return ET.fromstring(document)  # noqa: S314 - parses our own rendering, not untrusted input


def text(element: ET.Element, path: str) -> str | None:
    found = element.find(path)
    assert found is not None, f"{path} missing"
    return found.text


@pytest.mark.parametrize("root", ["yandex", "clickhouse"])
def test_server_config_has_the_minimal_settings_under_either_root(root: ConfigRoot) -> None:
    config = parse(render_server_config(server_config(root)))

    assert config.tag == root
    assert text(config, "listen_host") == "127.0.0.1"
    assert text(config, "http_port") == "18123"
    assert text(config, "tcp_port") == "19000"
    assert text(config, "path") == "/srv/svc/data/"
    assert text(config, "tmp_path") == "/srv/svc/tmp/"
    assert text(config, "user_files_path") == "/srv/svc/user_files/"
    assert text(config, "users_config") == "/srv/svc/users.xml"
    assert text(config, "default_profile") == "default"
    assert text(config, "default_database") == "default"
    assert int(text(config, "mark_cache_size") or "0") > 0
    assert text(config, "keep_alive_timeout") == "3"  # a stopping server waits this long for an idle connection
    assert text(config, "logger/log") == "/srv/svc/logs/server.log"
    assert text(config, "logger/errorlog") == "/srv/svc/logs/server.err.log"
    assert config.find("https_port") is None
    assert config.find("openSSL") is None


@pytest.mark.parametrize("root", ["yandex", "clickhouse"])
def test_users_config_uses_the_same_root(root: ConfigRoot) -> None:
    users = parse(render_users_config(ServiceSpec("s", HASH, ip_access_list=("10.0.0.1",)), "pw", root))

    assert users.tag == root


def test_tls_adds_secure_ports_and_the_openssl_server_section() -> None:
    config = parse(render_server_config(server_config(tls=True)))

    assert text(config, "https_port") == "18443"
    assert text(config, "tcp_port_secure") == "19440"
    assert text(config, "openSSL/server/certificateFile") == "/srv/svc/server.crt"
    assert text(config, "openSSL/server/privateKeyFile") == "/srv/svc/server.key"
    assert text(config, "openSSL/server/verificationMode") == "none"


def test_a_value_that_looks_like_markup_stays_text() -> None:
    base = Path("/srv/</path><x>evil</x>")
    rendered = render_server_config(server_config(base=base))
    config = parse(rendered)

    assert text(config, "path") == "/srv/</path><x>evil</x>/data/"
    assert config.find(".//x") is None
    assert b"<x>" not in rendered


def test_a_password_hash_cannot_add_users_or_networks() -> None:
    spec = ServiceSpec(
        "s",
        "</password_sha256_hex><networks><ip>::/0</ip></networks><password_sha256_hex>",
        ip_access_list=("10.0.0.1",),
    )
    users = parse(render_users_config(spec, "pw", "yandex"))

    assert text(users, "users/default/password_sha256_hex") == spec.password_sha256_hex
    assert [ip.text for ip in users.findall("users/default/networks/ip")] == ["10.0.0.1"]
    assert users.find(".//evil") is None


def test_default_user_gets_hashes_networks_profile_and_quota() -> None:
    spec = ServiceSpec("s", HASH, ip_access_list=("10.1.2.0/24", "::1"))
    users = parse(render_users_config(spec, "pw", "yandex"))

    assert text(users, "users/default/password_sha256_hex") == HASH
    assert [ip.text for ip in users.findall("users/default/networks/ip")] == ["::ffff:10.1.2.0/120", "::1"]
    assert text(users, "users/default/profile") == SERVICE_PROFILE
    assert text(users, "users/default/quota") == "default"
    assert users.find("quotas/default/interval/duration") is not None


def test_an_empty_access_list_leaves_networks_without_any_address() -> None:
    users = parse(render_users_config(ServiceSpec("s", HASH, ip_access_list=()), "pw", "yandex"))

    networks = users.find("users/default/networks")
    assert networks is not None
    assert list(networks) == []


def test_memory_limit_goes_to_the_default_profile_only_when_set() -> None:
    limited = parse(render_users_config(ServiceSpec("s", HASH, max_memory_bytes=8 * 1024**3), "pw", "yandex"))
    unlimited = parse(render_users_config(ServiceSpec("s", HASH), "pw", "yandex"))

    assert text(limited, "profiles/default/max_memory_usage") == str(8 * 1024**3)
    assert unlimited.find("profiles/default") is not None
    assert unlimited.find("profiles/default/max_memory_usage") is None


def test_service_settings_go_to_the_default_users_profile_not_the_internal_users() -> None:
    spec = ServiceSpec("s", HASH, max_memory_bytes=8 * 1024**3,
                       settings=(("max_threads", "4"), ("max_memory_usage", "1000"), ("format_schema", "<x/>")))
    users = parse(render_users_config(spec, "pw", "yandex"))

    assert text(users, f"profiles/{SERVICE_PROFILE}/max_threads") == "4"
    assert text(users, f"profiles/{SERVICE_PROFILE}/max_memory_usage") == "1000"  # over the scaling limit
    assert text(users, f"profiles/{SERVICE_PROFILE}/format_schema") == "<x/>"
    assert text(users, f"users/{INTERNAL_USER}/profile") == "default"
    assert users.find("profiles/default/max_threads") is None
    assert text(users, "profiles/default/max_memory_usage") == str(8 * 1024**3)


@pytest.mark.parametrize("name", ["a b", "x><evil/><y", "1st", "", "na-me"])
def test_a_setting_name_that_is_not_an_identifier_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="invalid setting name"):
        render_users_config(ServiceSpec("s", HASH, settings=((name, "1"),)), "pw", "yandex")


def test_internal_user_stores_only_the_hash_of_its_password_and_is_local_only() -> None:
    rendered = render_users_config(ServiceSpec("s", HASH), "internal-secret", "yandex")
    users = parse(rendered)

    expected = hashlib.sha256(b"internal-secret").hexdigest()
    assert text(users, f"users/{INTERNAL_USER}/password_sha256_hex") == expected
    assert [ip.text for ip in users.findall(f"users/{INTERNAL_USER}/networks/ip")] == ["127.0.0.1", "::1"]
    assert b"internal-secret" not in rendered


def test_internal_user_may_be_given_more_local_networks() -> None:
    users = parse(render_users_config(ServiceSpec("s", HASH), "pw", "yandex", ("127.0.0.1", "::1", "10.0.0.5")))

    assert [ip.text for ip in users.findall(f"users/{INTERNAL_USER}/networks/ip")] == [
        "127.0.0.1",
        "::1",
        "10.0.0.5",
    ]


@pytest.mark.parametrize(
    ("entry", "written"),
    [
        ("10.1.2.0/24", "::ffff:10.1.2.0/120"),
        ("127.0.0.2/32", "::ffff:127.0.0.2/128"),
        ("10.1.2.3/24", "::ffff:10.1.2.0/120"),  # host bits dropped, as ClickHouse would
        ("0.0.0.0/0", "::/0"),
        ("192.168.1.7", "192.168.1.7"),
        ("::1", "::1"),
        ("2001:db8::/32", "2001:db8::/32"),
        ("::/0", "::/0"),
        (" 10.0.0.0/8 ", "::ffff:10.0.0.0/104"),
    ],
)
def test_networks_work_around_the_ipv4_cidr_quirk_of_18_16(entry: str, written: str) -> None:
    assert clickhouse_networks((entry,)) == [written]


@pytest.mark.parametrize("entry", ["", "not-an-ip", "10.0.0.0/33", "10.0.0.1/abc", "example.com", "1.2.3"])
def test_networks_reject_garbage(entry: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        clickhouse_networks((entry,))


@pytest.mark.parametrize(
    ("binary", "root", "argv"),
    [
        ("/usr/sbin/clickhouse-server", "yandex", ["/usr/sbin/clickhouse-server", "--config-file=/c.xml"]),
        ("clickhouse-server", "yandex", ["clickhouse-server", "--config-file=/c.xml"]),
        ("/opt/ch/clickhouse", "clickhouse", ["/opt/ch/clickhouse", "server", "--config-file=/c.xml"]),
        ("clickhouse", "clickhouse", ["clickhouse", "server", "--config-file=/c.xml"]),
    ],
)
def test_invocation_and_root_follow_the_binary_name(binary: str, root: ConfigRoot, argv: list[str]) -> None:
    assert config_root_for(binary) == root
    assert server_command(binary, Path("/c.xml")) == argv
