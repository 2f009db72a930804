"""HTTPS for the emulator: a self-signed certificate for loopback, generated on demand, and how to trust it.

Entra ID clients (``azure-identity`` credentials, Microsoft's ``azure-batch``, batchaio's own
``TokenCredentialAuth``) send tokens only over https, so testing those code paths needs TLS. The generated
certificate is its own authority: trust exactly that file (``SSL_CERT_FILE``, ``verify=``,
``connection_verify=``), never a system store. Generating one needs the ``cryptography`` package (in the
``emulator`` extra).
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["TlsFiles", "generate_self_signed", "trust_instructions"]

# Names the certificate is valid for: the loopback addresses the emulator serves on by default.
_DNS_NAMES = ("localhost",)
_IP_ADDRESSES = ("127.0.0.1", "::1")
_VALID_DAYS = 30


@dataclass(frozen=True)
class TlsFiles:
    """The certificate (PEM, also the file clients trust) and its private key (PEM) the server uses."""

    cert_file: Path
    key_file: Path
    generated: bool = False  # made for an Emulator in a temporary directory of its own, removed by close()

    def server_context(self) -> ssl.SSLContext:
        """An ``ssl.SSLContext`` serving this certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """An ``ssl.SSLContext`` that trusts this certificate only (for ``httpx``'s ``verify=``)."""
        return ssl.create_default_context(cafile=str(self.cert_file))


def generate_self_signed(directory: Path, host: str = "127.0.0.1") -> TlsFiles:
    """Write ``emulator-cert.pem`` and ``emulator-key.pem`` to ``directory``: a self-signed certificate for
    ``localhost``, ``127.0.0.1``, ``::1`` (and ``host``), valid for 30 days."""
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "generating a TLS certificate needs the 'cryptography' package: pip install 'batchaio[emulator]' "
            "(or pass your own cert_file/key_file)"
        ) from error
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = _certificate(key, host)
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "emulator-cert.pem", directory / "emulator-key.pem")
    files.cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    files.key_file.touch(mode=0o600)
    files.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files


def _alternative_names(host: str) -> list[Any]:
    """The certificate's subject alternative names: the loopback names and addresses, and ``host``."""
    from cryptography import x509

    names: list[x509.GeneralName] = [x509.DNSName(dns) for dns in _DNS_NAMES]
    addresses = {*_IP_ADDRESSES}
    try:
        addresses.add(str(ipaddress.ip_address(host)))
    except ValueError:
        names.append(x509.DNSName(host))
    names.extend(x509.IPAddress(ipaddress.ip_address(address)) for address in sorted(addresses))
    return names


def _certificate(key: Any, host: str) -> Any:
    """A server certificate for ``host`` signed by ``key`` itself, valid from five minutes ago."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "batchaio emulator")])
    now = datetime.datetime.now(datetime.timezone.utc)
    signing_only = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(_alternative_names(host)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(signing_only, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def trust_instructions(cert_file: Path) -> str:
    """How to make a client trust the emulator's certificate (printed by ``--tls``)."""
    return (
        f"The emulator serves HTTPS with a self-signed certificate: trust {cert_file} only.\n"
        f"  batchaio / httpx:  SSL_CERT_FILE={cert_file}  (or transport=httpx.AsyncHTTPTransport("
        f"verify=ssl.create_default_context(cafile='{cert_file}')))\n"
        f"  azure-batch:       BatchClient(endpoint, credential, connection_verify='{cert_file}')\n"
        f"  curl:              curl --cacert {cert_file} ..."
    )
