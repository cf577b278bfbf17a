"""The runtime's own certificate authority and the server certificates it issues.

ClickHouse Cloud serves only TLS to clients; here each service gets a certificate from a CA that the
control plane creates once, and clients trust that CA (`curl --cacert`, `ca_certs=`).
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from clickplane.runtime.files import write_atomically

CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca.key"

_CA_LIFETIME = datetime.timedelta(days=3650)
# Under the 398 days that browsers and many TLS clients accept for a server certificate.
_SERVER_LIFETIME = datetime.timedelta(days=397)
# Renew this long before expiry, so a restart in the last weeks picks up a fresh certificate.
_RENEW_BEFORE = datetime.timedelta(days=30)
# Tolerates clients whose clocks run a little behind ours.
_BACKDATE = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class CertificateAuthority:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_path: Path


def ca_certificate_path(data_dir: Path) -> Path:
    """Where the control plane's CA keeps its certificate: what clients verify services' TLS endpoints (and the
    API's own certificate, when it issues one) with."""
    return data_dir.resolve() / "ca" / CA_CERT_FILE


def ensure_ca(directory: Path) -> CertificateAuthority:
    """The CA kept in `directory`, created on first use (ca.pem, and ca.key readable by us only)."""
    cert_path, key_path = directory / CA_CERT_FILE, directory / CA_KEY_FILE
    if cert_path.exists() and key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path} does not hold the elliptic-curve key this runtime creates")
        return CertificateAuthority(x509.load_pem_x509_certificate(cert_path.read_bytes()), key, cert_path)
    return _create_ca(directory, cert_path, key_path)


def _create_ca(directory: Path, cert_path: Path, key_path: Path) -> CertificateAuthority:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "clickplane local CA")])
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    # The key first: a ca.pem without its key would be taken for a complete CA on the next start.
    write_atomically(key_path, _key_pem(key))
    write_atomically(cert_path, certificate.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return CertificateAuthority(certificate, key, cert_path)


def ensure_server_certificate(ca: CertificateAuthority, hosts: Iterable[str], cert_path: Path, key_path: Path) -> bool:
    """Issue a certificate for `hosts` unless the one at `cert_path` is from `ca`, names exactly these
    hosts and is not close to expiry. Returns whether a new one was written."""
    hosts = list(hosts)
    if cert_path.exists() and key_path.exists() and certificate_is_current(ca, cert_path.read_bytes(), hosts):
        return False
    certificate, key = issue_server_certificate(ca, hosts)
    write_atomically(key_path, key)
    write_atomically(cert_path, certificate, mode=0o644)
    return True


def issue_server_certificate(ca: CertificateAuthority, hosts: Iterable[str]) -> tuple[bytes, bytes]:
    """A new server certificate for `hosts` signed by `ca`, and its private key, both PEM."""
    names = _subject_alternative_names(hosts)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _common_name(names))]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _SERVER_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def certificate_is_current(ca: CertificateAuthority, certificate_pem: bytes, hosts: Iterable[str]) -> bool:
    """Whether the PEM certificate is from `ca`, names exactly `hosts` and is not close to expiry."""
    names = _subject_alternative_names(hosts)
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
        certificate.verify_directly_issued_by(ca.certificate)
    except (ValueError, TypeError, InvalidSignature):
        return False
    try:
        present = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return set(present) == set(names) and certificate.not_valid_after_utc - _now() > _RENEW_BEFORE


def _subject_alternative_names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):  # keeps the order, drops repeats
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    if not names:
        raise ValueError("a server certificate needs at least one host name or address")
    return names


def _common_name(names: list[x509.GeneralName]) -> str:
    # Clients match the SANs; the CN is informative only and limited to 64 characters.
    return str(names[0].value)[:64]


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
