"""The TLS context of the listeners: the configured certificate, or a self-signed one locally.

Production passes the certificate and key (PEM files, or the PEM text itself, e.g. from a
Secrets Manager secret injected by ECS). Anywhere but the prod stage a missing certificate
is replaced by a self-signed one for ``localhost``/``127.0.0.1``, made once with the
``cryptography`` package and kept in ``POSTLINE_SMTP_SELF_SIGNED_DIR``.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path

from chalicelib.core.config import ConfigError
from chalicelib.core.config import settings as core_settings
from chalicelib.smtp.settings import SmtpSettings


def self_signed(directory: Path, names: tuple[str, ...] = ("localhost", "127.0.0.1")) -> tuple[Path, Path]:
    """(cert.pem, key.pem) in ``directory``, created if missing (valid 10 years)."""
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alt = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(key_path, 0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


@contextlib.contextmanager
def _as_file(value: str, suffix: str) -> Iterator[str]:
    """A path as given, or PEM text written to a private temporary file (ssl wants files)
    that is deleted when the block ends, so a private key is not left on disk."""
    if not value.lstrip().startswith("-----BEGIN"):
        yield value
        return
    handle, path = tempfile.mkstemp(suffix=suffix)
    try:
        with os.fdopen(handle, "w") as f:
            f.write(value)
        yield path
    finally:
        os.unlink(path)


def server_context(config: SmtpSettings) -> tuple[ssl.SSLContext, Path | None]:
    """The context for STARTTLS and implicit TLS, and the certificate file when self-signed."""
    made = None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # the seeds: TLS only, no SSLv2/v3
    if config.tls_cert and config.tls_key:
        with _as_file(config.tls_cert, ".crt") as cert, _as_file(config.tls_key, ".key") as key:
            context.load_cert_chain(cert, key)
    elif config.tls_cert or config.tls_key:
        raise ConfigError("set both POSTLINE_SMTP_TLS_CERT and POSTLINE_SMTP_TLS_KEY, or neither")
    elif core_settings().stage == "prod":
        raise ConfigError("POSTLINE_SMTP_TLS_CERT and POSTLINE_SMTP_TLS_KEY must be set in prod")
    else:
        made, key_path = self_signed(config.self_signed_dir)
        context.load_cert_chain(str(made), str(key_path))
    return context, made
