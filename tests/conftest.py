"""Fixtures for the certificate tests: the stdlib ``ssl`` to compare with,
CPython's own test certificates, and certificates made during the session.
"""

from __future__ import annotations

import datetime
import glob
import os
import subprocess
import sys

import pytest


@pytest.fixture(scope="session")
def stdlib_ssl():
    """The stdlib ``ssl`` module; the test is skipped where it is missing."""
    try:
        import ssl
    except ImportError:
        pytest.skip("the stdlib ssl module is not importable")
    return ssl


def _cpython_test_dirs() -> list[str]:
    # The running interpreter's own test package first, then every
    # interpreter pyenv knows about.
    prefixes = [sys.base_prefix]
    try:
        root = subprocess.run(
            ["pyenv", "root"], capture_output=True, text=True, check=True
        ).stdout.strip()
        prefixes += sorted(glob.glob(os.path.join(root, "versions", "*")))
    except (OSError, subprocess.CalledProcessError):
        pass
    dirs = []
    for prefix in prefixes:
        for test_dir in sorted(
            glob.glob(os.path.join(prefix, "lib", "python3.*", "test"))
        ):
            # 3.12 moved the certificates into test/certdata.
            dirs += [os.path.join(test_dir, "certdata"), test_dir]
    return [d for d in dirs if os.path.isdir(d)]


@pytest.fixture(scope="session")
def cpython_test_certificate():
    """Find one of the certificates CPython's test suite ships, by file name."""
    dirs = _cpython_test_dirs()

    def find(name: str) -> str:
        for directory in dirs:
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                return path
        pytest.skip(f"CPython's test certificate {name} is not installed")

    return find


@pytest.fixture(scope="session")
def certificate_key():
    """A key pair made for this session, which signs every made certificate."""
    ec = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="session")
def make_certificate(tmp_path_factory, certificate_key):
    """Build a self-issued certificate with ``cryptography`` and return the
    path of its PEM file.

    ``subject`` is a ``cryptography.x509.Name`` or a common name; the issuer
    defaults to the subject; ``extensions`` is a list of extension values.
    """
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    directory = tmp_path_factory.mktemp("made-certificates")
    counter = iter(range(1_000_000))

    def make(
        subject="made.example",
        issuer=None,
        serial: int = 0x1234,
        extensions=(),
        not_before=datetime.datetime(2020, 1, 2, 3, 4, 5),
        not_after=datetime.datetime(2040, 6, 7, 8, 9, 10),
    ) -> str:
        if isinstance(subject, str):
            subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer if issuer is not None else subject)
            .public_key(certificate_key.public_key())
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
        )
        for extension in extensions:
            builder = builder.add_extension(extension, critical=False)
        certificate = builder.sign(certificate_key, hashes.SHA256())
        path = directory / f"cert-{next(counter)}.pem"
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return str(path)

    return make
