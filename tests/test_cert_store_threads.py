"""cert_store_stats() and get_ca_certs() while other threads change the
same trust store: a handshake that finds its CA in a capath directory adds
it to the store without the GIL, and so does load_verify_locations(); the
store's list of objects may then be moved in memory. Reading it without the
store's lock crashed (the stdlib's CVE-2024-0397)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
import trustme
from openssl_cli import OPENSSL, needs_openssl

import pyssl
from pyssl._lib import lib

HERE = Path(__file__).resolve().parent
CA_COUNT = 96
# Long enough to crash the unlocked reads in most runs; the sanitizer build
# of CI catches what a normal build lets through.
STRESS_SECONDS = 4


@pytest.fixture(scope="module")
def capath_files(tmp_path_factory):
    """(hashed CA directory, file of the same CAs, one server chain per CA)."""
    base = tmp_path_factory.mktemp("capath")
    capath = base / "cas"
    capath.mkdir()
    chains = []
    with open(base / "cas.pem", "wb") as bundle:
        for i in range(CA_COUNT):
            ca = trustme.CA(organization_name=f"pyssl test CA {i}")
            ca.cert_pem.write_to_path(str(capath / f"ca{i}.pem"))
            bundle.write(ca.cert_pem.bytes())
            chain = base / f"server{i}.pem"
            ca.issue_cert("localhost").private_key_and_cert_chain_pem.write_to_path(
                str(chain)
            )
            chains.append(str(chain))
    if OPENSSL is not None:
        subprocess.run(
            [OPENSSL, "rehash", str(capath)], check=True, capture_output=True
        )
    return str(capath), str(base / "cas.pem"), chains


@needs_openssl
def test_store_read_while_handshakes_and_loads_fill_it(capath_files):
    capath, cafile, chains = capath_files
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "faulthandler",
            str(HERE / "cert_store_driver.py"),
            capath,
            cafile,
            str(STRESS_SECONDS),
            *chains,
        ],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=STRESS_SECONDS + 120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    words = done.stdout.split()
    assert words[0] == "ok", done.stdout
    counts = dict(word.split("=") for word in words[1:])
    assert all(int(count) > 0 for name, count in counts.items() if name != "stores"), (
        counts
    )


@pytest.mark.parametrize("read", ["cert_store_stats", "get_ca_certs"])
def test_the_store_is_read_under_its_lock(capath_files, read):
    """The reading waits while another thread holds the store's lock (as
    OpenSSL does while it adds a certificate), and does not keep the GIL
    while it waits."""
    _capath, cafile, _chains = capath_files
    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=cafile)
    store = lib.SSL_CTX_get_cert_store(ctx._ctx_ptr)
    results = []
    reader = threading.Thread(target=lambda: results.append(getattr(ctx, read)()))
    assert lib.X509_STORE_lock(store) == 1
    try:
        reader.start()
        reader.join(0.5)
        still_waiting = reader.is_alive()
    finally:
        lib.X509_STORE_unlock(store)
    reader.join(10)
    assert still_waiting
    assert not reader.is_alive()
    [result] = results
    if read == "cert_store_stats":
        assert result == {"x509": CA_COUNT, "crl": 0, "x509_ca": CA_COUNT}
    else:
        assert len(result) == CA_COUNT
        assert {cert["issuer"] for cert in result} == {
            cert["subject"] for cert in result
        }
