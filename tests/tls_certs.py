"""Certificates made on the spot with `cryptography`, for the TLS tests: a CA that signs node and
client certificates, written as PEM files the way an operator would hand them to a node."""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from nodeproc import LOOPBACK, ClientTls

_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Issued:
    """A certificate and its key as PEM files, and the certificate's serial number."""

    cert: Path
    key: Path
    serial: int


def _write(path: Path, data: bytes) -> None:
    """Write through a temporary name and rename, as a certificate rotation does."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class CertificateAuthority:
    """A self-signed CA whose certificate is `self.cert` (a PEM file in `directory`)."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.name = name
        directory.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} test CA")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _DAY).not_valid_after(now + 30 * _DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.cert = directory / f"{name}-ca.pem"
        _write(self.cert, self._cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, *, ip: str | None = LOOPBACK, server: bool = True,
              client: bool = True, into: tuple[Path, Path] | None = None) -> Issued:
        """A certificate for `ip` (an IP SAN) with the server and/or client key usage, written
        to `into` (cert, key) or to `<name>.pem` and `<name>-key.pem`."""
        key = ec.generate_private_key(ec.SECP256R1())
        usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + (
            [ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
        now = datetime.datetime.now(datetime.timezone.utc)
        serial = x509.random_serial_number()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - _DAY).not_valid_after(now + 30 * _DAY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        )
        if ip is not None:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        cert_path, key_path = into or (self.directory / f"{name}.pem",
                                       self.directory / f"{name}-key.pem")
        # Key first: during a rotation the old certificate never meets a key it cannot use
        # for long, and the node keeps its old pair until the new one loads.
        _write(key_path, _key_pem(key))
        _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        return Issued(cert_path, key_path, serial)


def client_tls(ca: CertificateAuthority, identity: Issued | None = None) -> ClientTls:
    """What a test client needs to reach a node over https: trust `ca`, present `identity`."""
    if identity is None:
        return ClientTls(ca.cert)
    return ClientTls(ca.cert, identity.cert, identity.key)


def served_certificate(port: int, tls: ClientTls, host: str = LOOPBACK) -> x509.Certificate:
    """The certificate a fresh handshake with host:port is served (verified by `tls`)."""
    with socket.create_connection((host, port), timeout=5) as raw, \
            tls.context().wrap_socket(raw, server_hostname=host) as conn:
        der = conn.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)
