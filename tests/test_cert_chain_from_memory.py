"""SSLContext.load_cert_chain_from_memory(certdata, keydata=None,
password=None): pyssl's addition to the stdlib, which loads a chain and key
only from files.

The chain is PEM (str or bytes) or DER (certificates one after another),
the key PEM or DER (PKCS#8, encrypted or not, or the key type's own
format); the password takes load_cert_chain()'s forms. Bad data fails as
the same bytes fail in a file given to load_cert_chain(), and nothing is
written to disk."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cert_files import PASSWORD, PASSWORD_FORMS, der_certificate, der_of, returning
from openssl_cli import OPENSSL, OpenSSLProcess, needs_openssl
from peers import client_context
from ssl_modules import outcome

import pyssl


def openssl_output(*args: str, data: bytes) -> bytes:
    return subprocess.run(
        [OPENSSL or "openssl", *args], input=data, capture_output=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def blobs(chain_certs, certs):
    """The chain and keys of ``chain_certs`` and ``certs`` in every form."""
    read = lambda path: Path(path).read_bytes()  # noqa: E731
    key_pem = read(chain_certs.key)
    leaf, intermediate = read(chain_certs.leaf), read(chain_certs.intermediate)
    password = ["-passout", f"pass:{PASSWORD}"]
    return {
        "chain pem": leaf + intermediate,
        "chain der": der_of(chain_certs.leaf) + der_of(chain_certs.intermediate),
        "key pem": key_pem,
        "key and chain pem": read(chain_certs.chain),
        "key der": openssl_output("pkey", "-outform", "DER", data=key_pem),
        "key pkcs8 der": openssl_output(
            "pkcs8", "-topk8", "-nocrypt", "-outform", "DER", data=key_pem
        ),
        "key pkcs8 pem": openssl_output("pkcs8", "-topk8", "-nocrypt", data=key_pem),
        "key encrypted pem": openssl_output("pkey", "-aes256", *password, data=key_pem),
        "key encrypted der": openssl_output(
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-outform",
            "DER",
            *password,
            data=key_pem,
        ),
        "server cert": read(certs.server_cert),
        "other key": read(certs.other_key),
        "encrypted server key": read(certs.server_key_encrypted),
    }


def server_ctx():
    return pyssl.SSLContext(pyssl.PROTOCOL_TLS_SERVER)


def served_chain(tls):
    return tls.getpeercert(binary_form=True)


# ---- forms that load ---------------------------------------------------------------


FORMS = {
    # name: (certdata, keydata, password)
    "PEM chain, PEM key": ("chain pem", "key pem", None),
    "PEM key and chain in one": ("key and chain pem", None, None),
    "PEM chain, PKCS#8 PEM key": ("chain pem", "key pkcs8 pem", None),
    "DER chain, DER key": ("chain der", "key der", None),
    "DER chain, PKCS#8 DER key": ("chain der", "key pkcs8 der", None),
    "PEM chain, DER key": ("chain pem", "key der", None),
    "DER chain, PEM key": ("chain der", "key pem", None),
    "encrypted PEM key": ("chain pem", "key encrypted pem", PASSWORD),
    "encrypted DER key": ("chain der", "key encrypted der", PASSWORD),
}


@pytest.mark.parametrize("form", FORMS)
def test_loaded_chain_serves_a_handshake(handshake, chain_certs, blobs, peer, form):
    certdata, keydata, password = FORMS[form]
    ctx = server_ctx()
    assert (
        ctx.load_cert_chain_from_memory(
            blobs[certdata], None if keydata is None else blobs[keydata], password
        )
        is None
    )
    # The client trusts the root only: the handshake needs the intermediate.
    client_ctx = peer.SSLContext(peer.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(chain_certs.root)
    client, _server = handshake(ctx, client_ctx, on_client=served_chain)
    assert client == der_of(chain_certs.leaf)


@pytest.mark.parametrize("kind", [str, bytes, bytearray, memoryview])
def test_data_may_be_text_or_any_bytes_like_object(handshake, chain_certs, blobs, kind):
    def convert(data):
        return data.decode("ascii") if kind is str else kind(data)

    ctx = server_ctx()
    ctx.load_cert_chain_from_memory(
        certdata=convert(blobs["chain pem"]), keydata=convert(blobs["key pem"])
    )
    client_ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(chain_certs.root)
    assert handshake(ctx, client_ctx) == ("TLSv1.3", "TLSv1.3")


@pytest.mark.parametrize("key", ["key encrypted pem", "key encrypted der"])
@pytest.mark.parametrize("form", PASSWORD_FORMS)
def test_password_forms_decrypt_the_key(blobs, key, form):
    assert (
        server_ctx().load_cert_chain_from_memory(
            blobs["chain pem"], blobs[key], PASSWORD_FORMS[form]
        )
        is None
    )


def test_password_callback_is_not_called_for_a_plain_key(blobs):
    calls = []
    server_ctx().load_cert_chain_from_memory(
        blobs["chain pem"], blobs["key pem"], lambda: calls.append(1) or PASSWORD
    )
    assert calls == []


def test_client_presents_a_certificate_loaded_from_memory(
    handshake, certs, blobs, peer
):
    server = peer.SSLContext(peer.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(certs.server_chain)
    server.verify_mode = peer.CERT_REQUIRED
    server.load_verify_locations(certs.ca)
    client = client_context(pyssl, certs)
    client.load_cert_chain_from_memory(Path(certs.client_chain).read_text())
    _client, seen = handshake(server, client, on_server=served_chain)
    assert seen == der_of(certs.client_cert)


@needs_openssl
def test_openssl_s_client_verifies_the_chain(serve, chain_certs, blobs):
    ctx = server_ctx()
    ctx.load_cert_chain_from_memory(
        blobs["chain der"], blobs["key encrypted der"], PASSWORD
    )

    def handler(conn):
        with ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"chain loaded\n")

    server = serve(handler)
    client = OpenSSLProcess(
        [
            "s_client",
            "-connect",
            f"127.0.0.1:{server.port}",
            "-CAfile",
            chain_certs.root,
            "-servername",
            "localhost",
            "-showcerts",
            "-verify_return_error",
        ]
    )
    try:
        client.wait_for(b"chain loaded")
    finally:
        client.stop()
    server.join()
    transcript = b"".join(client.transcript).decode()
    assert "Verify return code: 0 (ok)" in transcript
    blocks = transcript.split("-----BEGIN CERTIFICATE-----")[1:]
    sent = [der_certificate("-----BEGIN CERTIFICATE-----" + block) for block in blocks]
    assert sent == [der_of(chain_certs.leaf), der_of(chain_certs.intermediate)]


# ---- the same failures as from files ----------------------------------------------


FAILURES = {
    # name: (certdata, keydata, password)
    "wrong password": ("server cert", "encrypted server key", "wrong"),
    "key of another certificate": ("server cert", "other key", None),
    "garbage certificate": (b"garbage", None, None),
    "garbage key": ("server cert", b"garbage", None),
    "empty certificate": (b"", None, None),
    "certificate without a key": ("server cert", None, None),
    "key without a certificate": ("key pem", None, None),
}


def failing(blobs, case):
    """(certdata, keydata, password) of a FAILURES case."""
    certdata, keydata, password = FAILURES[case]

    def data(name):
        return blobs[name] if isinstance(name, str) else name

    return data(certdata), None if keydata is None else data(keydata), password


@pytest.mark.parametrize("case", FAILURES)
def test_bad_data_fails_as_in_a_file(tmp_path, blobs, case):
    certdata, keydata, password = failing(blobs, case)
    certfile = tmp_path / "cert.pem"
    certfile.write_bytes(certdata)
    keyfile = None
    if keydata is not None:
        keyfile = tmp_path / "key.pem"
        keyfile.write_bytes(keydata)

    def from_memory(module):
        return server_ctx().load_cert_chain_from_memory(certdata, keydata, password)

    def from_files(module):
        return server_ctx().load_cert_chain(certfile, keyfile, password)

    from_memory_outcome = outcome(from_memory, pyssl)
    assert from_memory_outcome == outcome(from_files, pyssl)
    assert from_memory_outcome[:2] == ("raised", "SSLError")


EXPECTED = {
    "wrong password": ("SSL", "PEM_LIB"),
    "key of another certificate": ("X509", "KEY_VALUES_MISMATCH"),
    "garbage certificate": ("SSL", "PEM_LIB"),
    "garbage key": ("SSL", "PEM_LIB"),
}


@pytest.mark.parametrize("case", EXPECTED)
def test_bad_data_raises_ssl_error_with_the_reason(blobs, case):
    with pytest.raises(pyssl.SSLError) as info:
        server_ctx().load_cert_chain_from_memory(*failing(blobs, case))
    assert type(info.value) is pyssl.SSLError
    assert (info.value.library, info.value.reason) == EXPECTED[case]


@pytest.mark.parametrize(
    "data, which",
    [
        (b"\x30\x82\x01\x00garbage", "certdata"),
        (b"\x30\x03\x02\x01\x00", "keydata"),
    ],
)
def test_bad_der_raises_ssl_error(blobs, data, which):
    arguments = {
        "certdata": blobs["chain der"],
        "keydata": blobs["key der"],
        which: data,
    }
    with pytest.raises(pyssl.SSLError) as info:
        server_ctx().load_cert_chain_from_memory(**arguments)
    assert type(info.value) is pyssl.SSLError
    assert (info.value.library, info.value.reason) == ("SSL", "ASN1_LIB")


def test_wrong_password_for_a_der_key_raises_ssl_error(blobs):
    with pytest.raises(pyssl.SSLError) as info:
        server_ctx().load_cert_chain_from_memory(
            blobs["chain der"], blobs["key encrypted der"], "wrong"
        )
    assert (info.value.library, info.value.reason) == ("SSL", "ASN1_LIB")


class Refused(Exception):
    pass


@pytest.mark.parametrize("key", ["key encrypted pem", "key encrypted der"])
def test_exception_in_the_password_callback_propagates(blobs, key):
    exception = Refused("no password for you")

    def password():
        raise exception

    with pytest.raises(Refused) as info:
        server_ctx().load_cert_chain_from_memory(
            blobs["chain pem"], blobs[key], password
        )
    assert info.value is exception


@pytest.mark.parametrize(
    "password, error",
    [
        (3, "password should be a string or callable"),
        (returning(3), "password callback must return a string"),
    ],
)
def test_password_of_a_wrong_type_raises_type_error(blobs, password, error):
    with pytest.raises(TypeError) as info:
        server_ctx().load_cert_chain_from_memory(
            blobs["chain pem"], blobs["key encrypted pem"], password
        )
    assert info.value.args == (error,)


@pytest.mark.parametrize(
    "certdata, keydata, error",
    [
        (3, None, "certdata should be an ASCII string or a bytes-like object"),
        (None, None, "certdata should be an ASCII string or a bytes-like object"),
        ("pythön", None, "certdata should be an ASCII string or a bytes-like object"),
        ("", ["key"], "keydata should be an ASCII string or a bytes-like object"),
        ("", "schlüssel", "keydata should be an ASCII string or a bytes-like object"),
    ],
)
def test_data_of_a_wrong_type_raises_type_error(certdata, keydata, error):
    with pytest.raises(TypeError) as info:
        server_ctx().load_cert_chain_from_memory(certdata, keydata)
    assert info.value.args == (error,)


# ---- nothing written to disk ---------------------------------------------------------


def test_nothing_is_opened_or_written(tmp_path, monkeypatch, blobs):
    """No file is opened from Python (audit events), and the working
    directory and the temporary directory stay empty."""
    work, temp = tmp_path / "work", tmp_path / "temp"
    work.mkdir()
    temp.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr("tempfile.tempdir", None)
    events = []
    watching = [True]

    def hook(event, args):
        if watching[0] and event in (
            "open",
            "tempfile.mkstemp",
            "tempfile.mkdtemp",
            "os.mkdir",
        ):
            events.append((event, args))

    sys.addaudithook(hook)
    try:
        ctx = server_ctx()
        ctx.load_cert_chain_from_memory(
            blobs["chain der"], blobs["key encrypted pem"], PASSWORD
        )
        ctx.load_cert_chain_from_memory(blobs["key and chain pem"])
    finally:
        watching[0] = False
    assert events == []
    assert list(work.iterdir()) == list(temp.iterdir()) == []


STRACED = textwrap.dedent("""
    import os, sys
    import pyssl
    certdata, keydata = (open(path, "rb").read() for path in sys.argv[1:3])
    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_SERVER)
    os.access("/pyssl-load-begins", os.F_OK)
    ctx.load_cert_chain_from_memory(certdata, keydata, "{password}")
    os.access("/pyssl-load-ends", os.F_OK)
""")


@pytest.mark.skipif(
    sys.platform != "linux" or shutil.which("strace") is None,
    reason="needs Linux and strace to watch system calls",
)
def test_no_file_is_opened_by_openssl(tmp_path, blobs):
    """Between two markers, the process makes no system call that opens,
    creates or removes a file (strace), OpenSSL's own calls included."""
    paths = []
    for name in ("chain pem", "key encrypted der"):
        path = tmp_path / name.replace(" ", "-")
        path.write_bytes(blobs[name])
        paths.append(str(path))
    log = tmp_path / "strace.log"
    script = STRACED.format(password=PASSWORD)
    root = os.path.dirname(os.path.dirname(pyssl.__file__))
    result = subprocess.run(
        [
            "strace",
            "-f",
            "-o",
            str(log),
            "-e",
            "trace=%file",
            sys.executable,
            "-c",
            script,
            *paths,
        ],
        capture_output=True,
        cwd=root,
        timeout=60,
    )
    if result.returncode != 0 and b"ptrace" in result.stderr:
        pytest.skip("ptrace is not permitted here")
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    begin = next(i for i, line in enumerate(calls) if "/pyssl-load-begins" in line)
    end = next(i for i, line in enumerate(calls) if "/pyssl-load-ends" in line)
    assert calls[begin + 1 : end] == []


def test_load_cert_chain_from_files_is_unchanged(handshake, certs, peer):
    ctx = server_ctx()
    ctx.load_cert_chain(certs.server_cert, certs.server_key_encrypted, PASSWORD)
    assert handshake(ctx, client_context(peer, certs)) == ("TLSv1.3", "TLSv1.3")


def test_has_certs_from_memory_is_true():
    assert pyssl.HAS_CERTS_FROM_MEMORY is True
    assert "HAS_CERTS_FROM_MEMORY" in pyssl.__all__
