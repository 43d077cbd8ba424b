"""ssl.HAS_PHA (Python 3.14) and ssl.HAS_PSK_TLS13 (Python 3.15): whether
the linked library does TLS 1.3 post-handshake client authentication and
TLS 1.3 external PSKs (RFC 9258). pyssl offers both flags on every Python,
in ``pyssl`` and in ``pyssl._ssl``, as the stdlib has them in ``ssl`` and
``_ssl``; OpenSSL 3 has both features wherever it has TLS 1.3, and a true
flag must mean the feature works against a real peer."""

from __future__ import annotations

import socket

import pytest
from openssl_cli import needs_openssl
from peers import TIMEOUT, client_context, server_context
from ssl_modules import STDLIB_SSL, needs_stdlib_ssl

import pyssl

FLAGS = ["HAS_PHA", "HAS_PSK_TLS13"]


@pytest.mark.parametrize("name", FLAGS)
def test_the_flag_is_a_bool_in_both_layers(name):
    value = getattr(pyssl, name)
    assert type(value) is bool
    assert getattr(pyssl._ssl, name) is value
    assert name in pyssl.__all__


@pytest.mark.parametrize("name", FLAGS)
def test_openssl_3_with_tls_1_3_has_the_feature(name):
    # Only libraries that leave the feature out (AWS-LC, BoringSSL) have it
    # false; OpenSSL 3 has it with TLS 1.3.
    assert getattr(pyssl, name) is pyssl.HAS_TLSv1_3 is True


@needs_stdlib_ssl
@pytest.mark.parametrize("name", FLAGS)
def test_the_flag_is_the_stdlib_s_where_it_has_one(name):
    if not hasattr(STDLIB_SSL, name):
        pytest.skip(f"this Python's stdlib ssl has no {name}")
    assert getattr(STDLIB_SSL._ssl, name) is getattr(STDLIB_SSL, name)
    assert getattr(pyssl, name) is getattr(STDLIB_SSL, name)


def test_has_pha_means_a_server_gets_a_certificate_after_the_handshake(serve, certs):
    server_ctx = server_context(
        pyssl, certs, verify_mode=pyssl.CERT_OPTIONAL, post_handshake_auth=True
    )
    server_ctx.load_verify_locations(certs.ca)
    client_ctx = client_context(pyssl, certs, post_handshake_auth=True)
    client_ctx.load_cert_chain(certs.client_chain)

    def handler(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            assert tls.recv(1) == b"?"
            before = tls.getpeercert(binary_form=True)
            tls.verify_client_post_handshake()
            tls.sendall(b"!")
            assert tls.recv(1) == b"."
            return before, tls.getpeercert()["subject"]

    server = serve(handler)
    with (
        server.connect() as raw,
        client_ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"?")
        assert tls.recv(1) == b"!"
        tls.sendall(b".")
    [(before, subject)] = server.join()
    assert before is None
    assert ("commonName", "pyssl test client") in [rdn[0] for rdn in subject]


KEY = bytes.fromhex("00112233445566778899aabbccddeeff")


@needs_openssl
def test_has_psk_tls13_means_an_external_psk_handshake_over_tls_1_3(openssl_server):
    proc, port = openssl_server("-nocert", "-psk", KEY.hex(), "-tls1_3")
    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = pyssl.CERT_NONE  # no certificate: the key authenticates
    ctx.set_psk_client_callback(lambda hint: ("Client_identity", KEY))
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        with ctx.wrap_socket(raw) as tls:
            assert tls.version() == "TLSv1.3"
            assert tls.getpeercert(binary_form=True) is None
            tls.sendall(b"external PSK\n")
            proc.wait_for(b"external PSK")
