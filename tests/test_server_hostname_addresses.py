"""Which server_hostname is an IP address: only one that is exactly an
IPv4 or IPv6 address (``ipaddress.ip_address()`` syntax, without a zone).

An address is matched against the certificate's IP addresses and sent
without SNI; any other name is a host name, sent with SNI and matched
against the certificate's DNS names. OpenSSL's address parser, which the
stdlib uses to tell the two apart, reads an address at the start of the
text and ignores what follows a space or a tab, and takes leading zeros,
signs and white space in front: with the stdlib ``'127.0.0.1\\tO'`` or
``'0127.0.0.1'`` verifies against a certificate for 127.0.0.1. pyssl
takes such names as host names, so that a name is accepted only for what
it says. The server here is real (pyssl's and the stdlib's), its
certificate made for this session names localhost, 127.0.0.1 and ::1."""

from __future__ import annotations

import pytest
from peers import client_context, server_context

import pyssl

# Names OpenSSL's parser reads as 127.0.0.1 or ::1 but are not exactly an
# address; none is a DNS name of the certificate either.
NOT_ADDRESSES = [
    "127.0.0.1\tO",
    "127.0.0.1 evil.example",
    "127.0.0.1\n",
    " 127.0.0.1",
    "0127.0.0.1",
    "127.000.0.1",
    "127.+0.0.1",
    "::1%lo",
]

# Exactly an address the certificate names, in more than one spelling.
ADDRESSES = ["127.0.0.1", "::1", "0:0:0:0:0:0:0:1", "::0001"]

HOSTNAME_MISMATCH = 62  # X509_V_ERR_HOSTNAME_MISMATCH


def connect(serve, certs, server_module, server_hostname, check_hostname=True):
    """A pyssl client naming ``server_hostname`` to a ``server_module``
    server: (the client's error or None, the names the server's SNI
    callback received)."""
    server_ctx = server_context(server_module, certs)
    names = []
    server_ctx.sni_callback = lambda sock, name, ctx: names.append(name)

    def handler(conn):
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"!")
        except OSError:
            pass  # the client refused the certificate

    server = serve(handler)
    client_ctx = client_context(pyssl, certs, check_hostname=check_hostname)
    error = None
    try:
        with server.connect() as raw:
            with client_ctx.wrap_socket(raw, server_hostname=server_hostname) as tls:
                assert tls.server_hostname == server_hostname
                assert tls.recv(1) == b"!"
    except pyssl.SSLError as exc:
        error = exc
    server.join()
    return error, names


@pytest.mark.parametrize("name", NOT_ADDRESSES)
def test_a_name_that_is_not_exactly_an_address_does_not_match_the_address(
    serve, certs, peer, name
):
    error, names = connect(serve, certs, peer, name)
    assert isinstance(error, pyssl.SSLCertVerificationError), repr(error)
    assert error.verify_code == HOSTNAME_MISMATCH
    assert error.verify_message == (
        f"Hostname mismatch, certificate is not valid for {name!r}."
    )
    # Sent as the host name it is taken for.
    assert names == [name]


@pytest.mark.parametrize("name", NOT_ADDRESSES)
def test_without_check_hostname_such_a_name_is_sent_as_a_host_name(
    serve, certs, peer, name
):
    error, names = connect(serve, certs, peer, name, check_hostname=False)
    assert error is None
    assert names == [name]


@pytest.mark.parametrize("name", ADDRESSES)
def test_an_address_matches_the_certificate_and_is_not_sent(serve, certs, peer, name):
    error, names = connect(serve, certs, peer, name)
    assert error is None
    assert names == [None]  # RFC 6066 3: SNI never carries an address
