"""The local runtime's CA and the server certificates it issues."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

from cryptography import x509

from clickplane.runtime.tls import ensure_ca, ensure_server_certificate


def sans(path: Path) -> set[str]:
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(name.value) for name in names}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ca_is_created_once_with_a_private_key(tmp_path: Path) -> None:
    first = ensure_ca(tmp_path / "ca")
    second = ensure_ca(tmp_path / "ca")

    assert first.cert_path == tmp_path / "ca" / "ca.pem"
    assert mode(tmp_path / "ca" / "ca.key") == 0o600
    assert second.certificate == first.certificate
    constraints = first.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca


def test_server_certificate_names_the_hosts_and_chains_to_the_ca(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path / "ca")
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"

    assert ensure_server_certificate(ca, ["127.0.0.1", "db.example.com", "localhost"], cert, key)

    certificate = x509.load_pem_x509_certificate(cert.read_bytes())
    certificate.verify_directly_issued_by(ca.certificate)
    assert sans(cert) == {"127.0.0.1", "db.example.com", "localhost"}
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert mode(key) == 0o600


def test_a_good_certificate_is_kept_and_a_host_change_reissues_it(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path / "ca")
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    ensure_server_certificate(ca, ["127.0.0.1", "localhost"], cert, key)
    issued = cert.read_bytes()

    assert not ensure_server_certificate(ca, ["localhost", "127.0.0.1", "localhost"], cert, key)
    assert cert.read_bytes() == issued
    assert ensure_server_certificate(ca, ["127.0.0.1", "db.example.com", "localhost"], cert, key)
    assert sans(cert) == {"127.0.0.1", "db.example.com", "localhost"}


def test_a_certificate_from_another_ca_is_replaced(tmp_path: Path) -> None:
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    ensure_server_certificate(ensure_ca(tmp_path / "old-ca"), ["localhost"], cert, key)
    ca = ensure_ca(tmp_path / "ca")

    assert ensure_server_certificate(ca, ["localhost"], cert, key)
    x509.load_pem_x509_certificate(cert.read_bytes()).verify_directly_issued_by(ca.certificate)
