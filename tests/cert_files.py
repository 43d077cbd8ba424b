"""Certificates for the tests: the files issued once per test run (a CA,
a server and a client certificate, a chain with an intermediate CA),
certificates built field by field, CPython's own test certificates, and
their DER bytes."""

from __future__ import annotations

import base64
import datetime
import glob
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from openssl_cli import OPENSSL

PASSWORD = "correct horse"


def der_certificate(pem_text: str) -> bytes:
    """The DER bytes of the first PEM certificate in ``pem_text``."""
    body = pem_text.split("-----BEGIN CERTIFICATE-----")[1].split(
        "-----END CERTIFICATE-----"
    )[0]
    return base64.b64decode(body)


def der_of(pem_path: str) -> bytes:
    """The DER bytes of the (first) certificate in a PEM file."""
    return der_certificate(Path(pem_path).read_text())


def returning(value: Any) -> Callable[[], Any]:
    return lambda: value


# The forms PASSWORD can be given in.
PASSWORD_FORMS = {
    "str": PASSWORD,
    "bytes": PASSWORD.encode(),
    "bytearray": bytearray(PASSWORD.encode()),
    "callable-str": returning(PASSWORD),
    "callable-bytes": returning(PASSWORD.encode()),
}


# ---- the files of a test run -----------------------------------------------------


@dataclass(frozen=True)
class CertFiles:
    """Paths of the PEM files a test session uses."""

    ca: str  # the CA that signed the server and client certificates
    server_chain: str  # server certificate + key, for localhost/127.0.0.1/::1
    server_cert: str
    server_key: str
    server_key_encrypted: str  # the server key, encrypted with PASSWORD
    client_chain: str
    client_cert: str
    client_key: str
    other_ca: str  # a CA that signed nothing here
    other_key: str  # a key that matches no certificate here
    tmpdir: Path


def issue_cert_files(
    base: Path, key_type: trustme.KeyType = trustme.KeyType.ECDSA
) -> CertFiles:
    """Issue the test run's certificates and write them to ``base``; every
    key is of ``key_type`` (P-256 or RSA-2048)."""
    ca = trustme.CA(key_type=key_type)
    server = ca.issue_cert("localhost", "127.0.0.1", "::1", key_type=key_type)
    client = ca.issue_cert(
        "client@example.org", common_name="pyssl test client", key_type=key_type
    )
    other_ca = trustme.CA(key_type=key_type)
    other = other_ca.issue_cert("elsewhere.example", key_type=key_type)

    def write(name: str, blob: trustme.Blob | bytes) -> str:
        path = base / name
        if isinstance(blob, bytes):
            path.write_bytes(blob)
        else:
            blob.write_to_path(str(path))
        return str(path)

    key_pem = server.private_key_pem.bytes()
    encrypted = subprocess.run(
        [OPENSSL or "openssl", "pkey", "-aes256", "-passout", f"pass:{PASSWORD}"],
        input=key_pem,
        capture_output=True,
        check=True,
    ).stdout
    return CertFiles(
        ca=write("ca.pem", ca.cert_pem),
        server_chain=write("server.pem", server.private_key_and_cert_chain_pem),
        server_cert=write("server-cert.pem", server.cert_chain_pems[0]),
        server_key=write("server-key.pem", server.private_key_pem),
        server_key_encrypted=write("server-key-encrypted.pem", encrypted),
        client_chain=write("client.pem", client.private_key_and_cert_chain_pem),
        client_cert=write("client-cert.pem", client.cert_chain_pems[0]),
        client_key=write("client-key.pem", client.private_key_pem),
        other_ca=write("other-ca.pem", other_ca.cert_pem),
        other_key=write("other-key.pem", other.private_key_pem),
        tmpdir=base,
    )


def issue_second_server(base: Path) -> tuple[str, str, str]:
    """Another certificate for localhost (common name second.example), from
    another CA, written to ``base``: (chain file, certificate file, CA file)."""
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", common_name="second.example")
    paths = [base / "chain.pem", base / "cert.pem", base / "ca.pem"]
    cert.private_key_and_cert_chain_pem.write_to_path(str(paths[0]))
    cert.cert_chain_pems[0].write_to_path(str(paths[1]))
    ca.cert_pem.write_to_path(str(paths[2]))
    return (str(paths[0]), str(paths[1]), str(paths[2]))


# ---- a chain with an intermediate CA ---------------------------------------------


@dataclass(frozen=True)
class ChainFiles:
    """A server certificate for localhost issued by an intermediate CA."""

    root: str  # the root CA, which clients trust
    chain: str  # the server's key, certificate and the intermediate, PEM
    leaf: str
    intermediate: str
    key: str

    def ders(self) -> list[bytes]:
        """[root, intermediate, leaf] in DER."""
        return [der_of(path) for path in (self.root, self.intermediate, self.leaf)]


def issue_chain_files(base: Path) -> ChainFiles:
    """Issue a root, an intermediate and a leaf and write them to ``base``."""
    root = trustme.CA()
    intermediate = root.create_child_ca()
    leaf = intermediate.issue_cert("localhost")
    files = ChainFiles(
        *(
            str(base / name)
            for name in (
                "root.pem",
                "chain.pem",
                "leaf.pem",
                "intermediate.pem",
                "key.pem",
            )
        )
    )
    root.cert_pem.write_to_path(files.root)
    leaf.private_key_and_cert_chain_pem.write_to_path(files.chain)
    leaf.cert_chain_pems[0].write_to_path(files.leaf)
    intermediate.cert_pem.write_to_path(files.intermediate)
    leaf.private_key_pem.write_to_path(files.key)
    return files


# ---- certificates built field by field (certificate decoding tests) -------


def certificate_maker(directory: Path, key: Any) -> Callable[..., str]:
    """A function that builds a self-issued certificate signed by ``key``
    with ``cryptography``, writes it to ``directory`` and returns the path
    of its PEM file.

    ``subject`` is a ``cryptography.x509.Name`` or a common name; the issuer
    defaults to the subject; ``extensions`` is a list of extension values.
    """
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

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
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
        )
        for extension in extensions:
            builder = builder.add_extension(extension, critical=False)
        certificate = builder.sign(key, hashes.SHA256())
        path = directory / f"cert-{next(counter)}.pem"
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return str(path)

    return make


# ---- CPython's test certificates --------------------------------------------------


def cpython_test_dirs() -> list[str]:
    """The folders that may hold the certificates CPython's test suite
    ships: the running interpreter's own test package first, then every
    interpreter pyenv knows about."""
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


def find_cpython_test_certificate(dirs: list[str], name: str) -> str:
    """The path of CPython's test certificate ``name`` in one of ``dirs``;
    the test is skipped where none has it."""
    for directory in dirs:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    pytest.skip(f"CPython's test certificate {name} is not installed")
