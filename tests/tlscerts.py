"""Certificates for the TLS tests, made on the spot: a CA, server certificates signed by it
(for a name, expired, or from another CA), and the keystores and truststores Flume users have
(PEM, PKCS12, JKS)."""
from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import jks
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

PASSWORD = "changeit"
NOW = datetime.datetime.now(datetime.timezone.utc)


@dataclass
class Issued:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def ca(common: str = "zflume test CA") -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(common)).issuer_name(_name(common))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - datetime.timedelta(days=1))
            .not_valid_after(NOW + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return Issued(key, cert)


def server(issuer: Issued, names: tuple[str, ...] = ("localhost", "127.0.0.1"),
           expired: bool = False) -> Issued:
    """A server certificate for `names` (DNS names and IP addresses) signed by `issuer`."""
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    end = NOW - datetime.timedelta(days=1) if expired else NOW + datetime.timedelta(days=30)
    cert = (x509.CertificateBuilder().subject_name(_name(names[0]))
            .issuer_name(issuer.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - datetime.timedelta(days=2)).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .sign(issuer.key, hashes.SHA256()))
    return Issued(key, cert)


def write_pem(directory: Path, stem: str, issued: Issued) -> tuple[Path, Path]:
    """(certificate file, key file)."""
    cert, key = directory / f"{stem}.crt", directory / f"{stem}.key"
    cert.write_bytes(issued.cert_pem())
    key.write_bytes(issued.key_pem())
    return cert, key


def write_pkcs12(path: Path, issued: Issued, issuer: Issued) -> Path:
    path.write_bytes(pkcs12.serialize_key_and_certificates(
        b"server", issued.key, issued.cert, [issuer.cert],
        serialization.BestAvailableEncryption(PASSWORD.encode())))
    return path


def write_jks(path: Path, issued: Issued, issuer: Issued) -> Path:
    der = serialization.Encoding.DER
    key = issued.key.private_bytes(der, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())
    entry = jks.PrivateKeyEntry.new("server", [issued.cert.public_bytes(der),
                                               issuer.cert.public_bytes(der)], key, "pkcs8")
    jks.KeyStore.new("jks", [entry]).save(str(path), PASSWORD)
    return path


def write_trust_jks(path: Path, issuer: Issued) -> Path:
    entry = jks.TrustedCertEntry.new("ca", issuer.cert.public_bytes(serialization.Encoding.DER))
    jks.KeyStore.new("jks", [entry]).save(str(path), PASSWORD)
    return path


def write_trust_pkcs12(path: Path, issuer: Issued) -> Path:
    path.write_bytes(pkcs12.serialize_java_truststore(
        [pkcs12.PKCS12Certificate(issuer.cert, b"ca")],
        serialization.BestAvailableEncryption(PASSWORD.encode())))
    return path
