"""The default certificate directory (SSL_CERT_DIR) of a default context:
searched as SSL_CTX_set_default_verify_paths() has OpenSSL search it, by
the hashed-directory look-up and, before OpenSSL 3.4, also by the store
look-up, which pyssl opens only when verification searches it
(_native/default_store.h)."""

from __future__ import annotations

import pathlib
import subprocess

import pytest
from cert_files import der_of
from openssl_cli import OPENSSL, needs_openssl

import pyssl
from pyssl import _trust_store

pytestmark = needs_openssl

# Before 3.4 the store look-up also searches the default directory, and it
# reads any form the file: store loader decodes, DER among them.
STORE_SEARCHES_DEFAULT_DIR = pyssl.OPENSSL_VERSION_INFO < (3, 4)


@pytest.fixture(autouse=True)
def no_sources_kept():
    _trust_store.clear()
    yield
    _trust_store.clear()


def subject_hash(path: str) -> str:
    return subprocess.run(
        [OPENSSL, "x509", "-in", path, "-noout", "-subject_hash"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.fixture(params=["another CA", "empty"])
def default_dir(request, certs, tmp_path, monkeypatch):
    """An empty directory made the default certificate directory, with a
    default CA file that holds another CA (kept as a source) or nothing
    (which OpenSSL fails to load, so the default paths are set uncached)."""
    directory = tmp_path / "certs"
    directory.mkdir()
    default_file = tmp_path / "default.pem"
    other = pathlib.Path(certs.other_ca).read_text()
    default_file.write_text(other if request.param == "another CA" else "")
    monkeypatch.setenv("SSL_CERT_FILE", str(default_file))
    monkeypatch.setenv("SSL_CERT_DIR", str(directory))
    return directory


def verified(module, verify_with, ctx=None) -> bool:
    """Whether a handshake with ``ctx`` (by default a new default context)
    verifies the test server; it may fail only for want of its CA."""
    result = verify_with(module.create_default_context() if ctx is None else ctx)
    if isinstance(result, module.SSLCertVerificationError):
        assert result.verify_code == 20  # unable to get local issuer certificate
        return False
    assert result in ("TLSv1.3", "TLSv1.2")
    return True


def test_a_pem_ca_in_the_default_dir_is_found(either, certs, default_dir, verify_with):
    (default_dir / f"{subject_hash(certs.ca)}.0").write_text(
        pathlib.Path(certs.ca).read_text()
    )
    ctx = either.create_default_context()
    held = ctx.cert_store_stats()["x509"]  # the default file's; the directory's not yet
    assert verified(either, verify_with, ctx)
    assert ctx.cert_store_stats()["x509"] == held + 1
    assert verified(either, verify_with)


# What only the store look-up finds: the hashed-directory look-up reads PEM
# and stops at the first number missing.
ONLY_THE_STORE_FINDS = {
    "DER": lambda ca: (".0", der_of(ca)),
    "after a gap": lambda ca: (".5", pathlib.Path(ca).read_bytes()),
}


@pytest.mark.parametrize("form", ONLY_THE_STORE_FINDS)
def test_what_only_the_store_lookup_finds_is_found_before_openssl_3_4(
    certs, default_dir, verify_with, form
):
    suffix, content = ONLY_THE_STORE_FINDS[form](certs.ca)
    (default_dir / (subject_hash(certs.ca) + suffix)).write_bytes(content)
    assert verified(pyssl, verify_with) is STORE_SEARCHES_DEFAULT_DIR
    # Another context searches the directory again, as its own.
    ctx = pyssl.create_default_context()
    held = ctx.cert_store_stats()["x509"]
    assert verified(pyssl, verify_with, ctx) is STORE_SEARCHES_DEFAULT_DIR
    assert ctx.cert_store_stats()["x509"] == held + STORE_SEARCHES_DEFAULT_DIR


@pytest.mark.parametrize("form", ONLY_THE_STORE_FINDS)
def test_the_store_lookup_matches_the_stdlibs_on_the_same_openssl(
    stdlib_on_the_same_openssl, certs, default_dir, verify_with, form
):
    suffix, content = ONLY_THE_STORE_FINDS[form](certs.ca)
    (default_dir / (subject_hash(certs.ca) + suffix)).write_bytes(content)
    views = []
    for module in (stdlib_on_the_same_openssl, pyssl):
        ctx = module.create_default_context()
        views.append((verified(module, verify_with, ctx), ctx.cert_store_stats()))
    assert views[1] == views[0]


def test_a_missing_or_unrelated_default_dir_finds_nothing(
    either, certs, default_dir, verify_with, monkeypatch
):
    (default_dir / f"{subject_hash(certs.other_ca)}.0").write_bytes(
        der_of(certs.other_ca)
    )
    (default_dir / "not-a-certificate.pem").write_text("garbage\n")
    assert not verified(either, verify_with)
    monkeypatch.setenv("SSL_CERT_DIR", str(default_dir / "missing"))
    assert not verified(either, verify_with)
    monkeypatch.setenv("SSL_CERT_DIR", str(default_dir / "not-a-certificate.pem"))
    assert not verified(either, verify_with)


def test_default_paths_set_again_find_what_they_found_once(
    certs, default_dir, verify_with
):
    (default_dir / f"{subject_hash(certs.ca)}.0").write_bytes(der_of(certs.ca))
    ctx = pyssl.create_default_context()
    ctx.set_default_verify_paths()
    ctx.load_default_certs()
    assert verified(pyssl, verify_with, ctx) is STORE_SEARCHES_DEFAULT_DIR
