"""SSLSocket.verify_client_post_handshake(): TLS 1.3 post-handshake client
authentication. The server asks for the client's certificate after the
handshake; the request goes out with the server's next write, the client
answers while reading, and the server takes the certificate in with its
next read.

The stdlib documents every case here, so each runs with pyssl on both
ends, against the stdlib in both roles and against ``openssl s_client``."""

from __future__ import annotations

import base64
import socket
from pathlib import Path

import pytest

import pyssl
from conftest import client_context, module_named, needs_openssl, server_context


def der_of(pem_path):
    pem = Path(pem_path).read_text()
    body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
    return base64.b64decode(body)


def pha_server_context(module, certs, **settings):
    # OpenSSL asks for a certificate after the handshake only if the server
    # verifies client certificates at all.
    settings.setdefault("verify_mode", module.CERT_OPTIONAL)
    settings.setdefault("post_handshake_auth", True)
    ctx = server_context(module, certs, **settings)
    ctx.load_verify_locations(certs.ca)
    return ctx


def pha_client_context(module, certs, **settings):
    settings.setdefault("post_handshake_auth", True)
    ctx = client_context(module, certs, **settings)
    ctx.load_cert_chain(certs.client_chain)
    return ctx


def authenticating_server(ctx):
    """A server that asks for the client's certificate after the handshake
    and returns (certificate before, certificate after) in DER."""

    def handler(conn):
        with ctx.wrap_socket(conn, server_side=True) as tls:
            assert tls.recv(1024) == b"hello\n"
            before = tls.getpeercert(binary_form=True)
            assert tls.verify_client_post_handshake() is None
            # Until the client's answer is read, OpenSSL counts the
            # connection as handshaking again.
            with pytest.raises(ValueError, match="^handshake not done yet$"):
                tls.getpeercert(binary_form=True)
            tls.sendall(b"who are you?\n")  # carries the CertificateRequest
            assert tls.recv(1024) == b"it is me\n"  # preceded by the Certificate
            return before, tls.getpeercert(binary_form=True)

    return handler


def client_conversation(tls):
    tls.sendall(b"hello\n")
    assert tls.recv(1024) == b"who are you?\n"
    tls.sendall(b"it is me\n")


@pytest.mark.parametrize(
    "server_module, client_module",
    [("pyssl", "pyssl"), ("pyssl", "stdlib"), ("stdlib", "pyssl")],
    ids=["pyssl-pyssl", "pyssl server, stdlib client", "stdlib server, pyssl client"],
)
def test_server_gets_the_client_certificate(serve, certs, server_module, client_module):
    server = serve(authenticating_server(pha_server_context(module_named(server_module), certs)))
    ctx = pha_client_context(module_named(client_module), certs)
    with server.connect() as raw, ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        assert tls.version() == "TLSv1.3"
        client_conversation(tls)
    [(before, after)] = server.join()
    assert before is None
    assert after == der_of(certs.client_cert)


@needs_openssl
def test_pyssl_server_gets_the_certificate_of_openssl_s_client(serve, certs, openssl_client):
    server = serve(authenticating_server(pha_server_context(pyssl, certs)))
    client = openssl_client(
        server.port, "-enable_pha", "-cert", certs.client_cert, "-key", certs.client_key,
    )
    client.send(b"hello\n")
    client.wait_for(b"who are you?")
    client.send(b"it is me\n")
    [(before, after)] = server.join()
    assert before is None
    assert after == der_of(certs.client_cert)
